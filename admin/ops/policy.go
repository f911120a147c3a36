package ops

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// AlertsPatch holds the alert fields a request sets; nil keeps a value.
type AlertsPatch struct {
	WebhookURL *string
	// SetSecret says Secret replaces the webhook's signing secret (""
	// removes it).
	SetSecret        bool
	Secret           string
	BudgetThresholds *[]int
}

// PolicyPatch holds the policy fields a request sets; nil keeps a value.
type PolicyPatch struct {
	Strategy         *string
	AllowedProviders *[]string
	// OwnKeys maps provider slugs to the org's own key: a key sets it,
	// nil or blank removes it, and providers not named keep theirs.
	OwnKeys         map[string]*string
	Allocation      *map[string]fsm.Allocation
	Overflow        *fsm.Overflow
	Breaker         *fsm.Breaker
	Alerts          *AlertsPatch
	Limits          *LimitsPatch
	Partition       *string
	FailOpenSeconds *int
	// Version, when set, is the version the change expects (else the
	// current one).
	Version *uint64
}

// Policy returns an org's policy, or an empty one.
func (o *Ops) Policy(orgID string) *fsm.Policy {
	if p, ok := o.d.Viewer.View().Policies[orgID]; ok {
		return p
	}
	return &fsm.Policy{OrgID: orgID}
}

// UpdatePolicy overlays the patch on the policy of an org the caller
// manages. What the system grants the org (limits, allocation, allowed
// providers, partition behaviour) only a super admin may change.
func (o *Ops) UpdatePolicy(ctx context.Context, c Caller, orgID string, in Input[PolicyPatch]) (*fsm.Policy, error) {
	o.begin(PolicyUpdate)
	org, err := o.Org(c, orgID)
	if err != nil {
		return nil, err
	}
	if !c.CanManage(org.ID) {
		return nil, Forbidden("you may not change this org's policy")
	}
	req, err := in()
	if err != nil {
		return nil, err
	}
	cur := o.Policy(org.ID)
	next, err := o.overlayPolicy(&req, cur)
	if err != nil {
		return nil, err
	}
	if !c.Super() && grantsMore(cur, &next) {
		return nil, Forbidden("only a super admin may change an org's limits, provider allocation, allowed providers or partition behaviour")
	}
	if err := next.Validate(); err != nil {
		return nil, err // an *fsm.Error naming the field
	}
	expect := cur.Version
	if req.Version != nil {
		expect = *req.Version
	}
	res, err := proposeFor[fsm.Policy](ctx, o, fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: next, ExpectVersion: expect})
	if err != nil {
		return nil, err
	}
	o.audit(c, "policy changed", "org_id", org.ID, "own_keys_changed", len(req.OwnKeys) > 0, "alerts_changed", req.Alerts != nil)
	return res, nil
}

// grantsMore reports whether next changes what the system grants the org
// (its limits, its allocation of providers, the providers it may use, how
// it behaves cut off from the quorum): an org admin may tune the rest of
// its policy, not these. A new overflow pool outside the allowed
// providers counts: the data plane spills to the pool whatever the org
// may use.
func grantsMore(cur, next *fsm.Policy) bool {
	return cur.Limits != next.Limits || !maps.Equal(cur.Allocation, next.Allocation) ||
		!slices.Equal(cur.AllowedProviders, next.AllowedProviders) || cur.Partition != next.Partition ||
		cur.FailOpenSeconds != next.FailOpenSeconds ||
		(cur.Overflow != next.Overflow && next.Overflow.Mode == fsm.OverflowSpill &&
			len(next.AllowedProviders) > 0 && !slices.Contains(next.AllowedProviders, next.Overflow.Pool))
}

func (o *Ops) overlayPolicy(req *PolicyPatch, cur *fsm.Policy) (fsm.Policy, error) {
	next := *cur
	if req.Strategy != nil {
		next.Strategy = *req.Strategy
	}
	if req.AllowedProviders != nil {
		next.AllowedProviders = *req.AllowedProviders
	}
	if req.OwnKeys != nil {
		keys := make(map[string][]byte, len(cur.OwnKeys)+len(req.OwnKeys))
		maps.Copy(keys, cur.OwnKeys)
		for slug, v := range req.OwnKeys {
			if v == nil || strings.TrimSpace(*v) == "" {
				delete(keys, slug)
				continue
			}
			if _, ok := o.d.Viewer.View().Providers[slug]; !ok {
				return next, Invalid("own_keys", "own_keys: provider "+slug+" not found")
			}
			keys[slug] = o.d.Sealer.Seal(secret.OrgKeyPurpose(cur.OrgID, slug), []byte(strings.TrimSpace(*v)))
		}
		next.OwnKeys = keys
	}
	if req.Allocation != nil {
		next.Allocation = *req.Allocation
	}
	if req.Overflow != nil {
		next.Overflow = *req.Overflow
	}
	if req.Breaker != nil {
		next.Breaker = *req.Breaker
	}
	if a := req.Alerts; a != nil {
		if a.WebhookURL != nil {
			next.Alerts.WebhookURL = strings.TrimSpace(*a.WebhookURL)
		}
		if a.SetSecret {
			next.Alerts.SecretCipher = nil
			if a.Secret != "" {
				next.Alerts.SecretCipher = o.d.Sealer.Seal(secret.AlertSecretPurpose(cur.OrgID), []byte(a.Secret))
			}
		}
		if a.BudgetThresholds != nil {
			next.Alerts.BudgetThresholds = *a.BudgetThresholds
		}
	}
	req.Limits.ApplyTo(&next.Limits)
	if req.Partition != nil {
		next.Partition = *req.Partition
	}
	if req.FailOpenSeconds != nil {
		next.FailOpenSeconds = *req.FailOpenSeconds
	}
	return next, nil
}
