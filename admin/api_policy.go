package admin

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// policyJSON is an org policy as the API shows it: own keys and the webhook
// secret appear only as "is set".
type policyJSON struct {
	OrgID            string                    `json:"org_id"`
	Strategy         string                    `json:"strategy"`
	AllowedProviders []string                  `json:"allowed_providers"`
	OwnKeys          []string                  `json:"own_keys"` // provider slugs with an org key
	Allocation       map[string]fsm.Allocation `json:"allocation"`
	Overflow         fsm.Overflow              `json:"overflow"`
	Breaker          fsm.Breaker               `json:"breaker"`
	Alerts           alertsJSON                `json:"alerts"`
	Limits           limitsJSON                `json:"limits"`
	Partition        string                    `json:"partition"`
	FailOpenSeconds  int                       `json:"fail_open_seconds"`
	UpdatedAt        *time.Time                `json:"updated_at"`
	Version          uint64                    `json:"version"`
}

type alertsJSON struct {
	WebhookURL       string `json:"webhook_url"`
	HasSecret        bool   `json:"has_secret"`
	BudgetThresholds []int  `json:"budget_thresholds"`
}

func toPolicyJSON(p *fsm.Policy) policyJSON {
	out := policyJSON{
		OrgID: p.OrgID, Strategy: p.Strategy, AllowedProviders: p.AllowedProviders, OwnKeys: []string{},
		Allocation: p.Allocation, Overflow: p.Overflow, Breaker: p.Breaker,
		Alerts: alertsJSON{WebhookURL: p.Alerts.WebhookURL, HasSecret: len(p.Alerts.SecretCipher) > 0, BudgetThresholds: p.Alerts.BudgetThresholds},
		Limits: toLimitsJSON(p.Limits), Partition: p.Partition, FailOpenSeconds: p.FailOpenSeconds, Version: p.Version,
	}
	for slug := range p.OwnKeys {
		out.OwnKeys = append(out.OwnKeys, slug)
	}
	slices.Sort(out.OwnKeys)
	if out.AllowedProviders == nil {
		out.AllowedProviders = []string{}
	}
	if out.Allocation == nil {
		out.Allocation = map[string]fsm.Allocation{}
	}
	if out.Overflow.Mode == "" {
		out.Overflow.Mode = fsm.OverflowRefuse
	}
	if out.Alerts.BudgetThresholds == nil {
		out.Alerts.BudgetThresholds = []int{80, 100}
	}
	if out.Partition == "" {
		out.Partition = fsm.PartitionFailClosed
	}
	if !p.UpdatedAt.IsZero() {
		t := p.UpdatedAt
		out.UpdatedAt = &t
	}
	return out
}

func (s *Server) currentPolicy(orgID string) *fsm.Policy {
	if p, ok := s.d.Viewer.View().Policies[orgID]; ok {
		return p
	}
	return &fsm.Policy{OrgID: orgID}
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	o, err := s.lookupOrg(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPolicyJSON(s.currentPolicy(o.ID)))
	return nil
}

type alertsRequest struct {
	WebhookURL       *string     `json:"webhook_url"`
	Secret           secretField `json:"secret"`
	BudgetThresholds *[]int      `json:"budget_thresholds"`
}

// policyRequest overlays the fields present on the current policy. own_keys
// maps provider slugs to the org's key: a string sets it, null removes it,
// and providers not named keep theirs.
type policyRequest struct {
	Strategy         *string                    `json:"strategy"`
	AllowedProviders *[]string                  `json:"allowed_providers"`
	OwnKeys          map[string]*string         `json:"own_keys"`
	Allocation       *map[string]fsm.Allocation `json:"allocation"`
	Overflow         *fsm.Overflow              `json:"overflow"`
	Breaker          *fsm.Breaker               `json:"breaker"`
	Alerts           *alertsRequest             `json:"alerts"`
	Limits           *limitsRequest             `json:"limits"`
	Partition        *string                    `json:"partition"`
	FailOpenSeconds  *int                       `json:"fail_open_seconds"`
	Version          *uint64                    `json:"version"`
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) error {
	o, err := s.lookupOrg(r)
	if err != nil {
		return err
	}
	if !principalFrom(r.Context()).canManage(o.ID) {
		return forbidden("you may not change this org's policy")
	}
	var req policyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, err := s.savePolicy(r.Context(), principalFrom(r.Context()), o.ID, &req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPolicyJSON(p))
	return nil
}

// savePolicy overlays req on an org's policy and commits it (the API and
// the console; the caller checked that p manages the org).
func (s *Server) savePolicy(ctx context.Context, p principal, orgID string, req *policyRequest) (*fsm.Policy, error) {
	cur := s.currentPolicy(orgID)
	next, err := s.overlayPolicy(req, cur)
	if err != nil {
		return nil, err
	}
	if !p.super() && grantsMore(cur, &next) {
		return nil, forbidden("only a super admin may change an org's limits, provider allocation, allowed providers or partition behaviour")
	}
	if err := next.Validate(); err != nil {
		return nil, err // an *fsm.Error: toAPIError answers 400 naming the field
	}
	expect := cur.Version
	if req.Version != nil {
		expect = *req.Version
	}
	res, err := s.propose(ctx, fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: next, ExpectVersion: expect})
	if err != nil {
		return nil, err
	}
	return res.(*fsm.Policy), nil
}

// grantsMore reports whether next changes what the system grants the org
// (its limits, its allocation of providers, the providers it may use, how
// it behaves cut off from the quorum): an org admin may tune the rest of
// its policy, not these.
func grantsMore(cur, next *fsm.Policy) bool {
	return cur.Limits != next.Limits || !maps.Equal(cur.Allocation, next.Allocation) ||
		!slices.Equal(cur.AllowedProviders, next.AllowedProviders) || cur.Partition != next.Partition ||
		cur.FailOpenSeconds != next.FailOpenSeconds
}

func (s *Server) overlayPolicy(req *policyRequest, cur *fsm.Policy) (fsm.Policy, error) {
	next := *cur
	if req.Strategy != nil {
		next.Strategy = *req.Strategy
	}
	if req.AllowedProviders != nil {
		next.AllowedProviders = *req.AllowedProviders
	}
	if req.OwnKeys != nil {
		keys := make(map[string][]byte, len(cur.OwnKeys)+len(req.OwnKeys))
		for k, v := range cur.OwnKeys {
			keys[k] = v
		}
		for slug, v := range req.OwnKeys {
			if v == nil || strings.TrimSpace(*v) == "" {
				delete(keys, slug)
				continue
			}
			if _, ok := s.d.Viewer.View().Providers[slug]; !ok {
				return next, badRequest("own_keys", "own_keys: provider "+slug+" not found")
			}
			keys[slug] = s.d.Keyring.Seal(secret.OrgKeyPurpose(cur.OrgID, slug), []byte(strings.TrimSpace(*v)))
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
		if a.Secret.present {
			next.Alerts.SecretCipher = nil
			if *a.Secret.value != "" {
				next.Alerts.SecretCipher = s.d.Keyring.Seal(secret.AlertSecretPurpose(cur.OrgID), []byte(*a.Secret.value))
			}
		}
		if a.BudgetThresholds != nil {
			next.Alerts.BudgetThresholds = *a.BudgetThresholds
		}
	}
	req.Limits.applyTo(&next.Limits)
	if req.Partition != nil {
		next.Partition = *req.Partition
	}
	if req.FailOpenSeconds != nil {
		next.FailOpenSeconds = *req.FailOpenSeconds
	}
	return next, nil
}

var _ json.Unmarshaler = (*secretField)(nil)
