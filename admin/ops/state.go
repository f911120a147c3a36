package ops

import (
	"bytes"
	"context"
	"maps"
	"slices"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// ResealResult says what a reseal did.
type ResealResult struct {
	Providers int `json:"providers"`
	Policies  int `json:"policies"`
	// Failed lists records whose secret opens under neither the current
	// nor the previous BETTER_AUTH_SECRET; their keys must be entered
	// again.
	Failed []string `json:"failed"`
}

// Reseal seals every stored secret (provider keys, orgs' own keys, alert
// webhook secrets) again under the node's current BETTER_AUTH_SECRET,
// through raft (super admins only): the step of a secret rotation after
// every node runs with the new secret and the old one as
// BETTER_AUTH_SECRET_PREVIOUS.
func (o *Ops) Reseal(ctx context.Context, c Caller) (ResealResult, error) {
	o.begin(SecretsReseal)
	out := ResealResult{Failed: []string{}}
	if err := c.RequireSuper(); err != nil {
		return out, err
	}
	st := o.d.Viewer.View()
	again := func(purpose string, sealed []byte) ([]byte, bool) {
		pt, err := o.d.Sealer.Open(purpose, sealed)
		if err != nil {
			return nil, false
		}
		return o.d.Sealer.Seal(purpose, pt), true
	}
	for _, slug := range st.ProviderOrder {
		p := *st.Providers[slug]
		if len(p.APIKeyCipher) == 0 {
			continue
		}
		sealed, ok := again(secret.ProviderPurpose(slug), p.APIKeyCipher)
		if !ok {
			out.Failed = append(out.Failed, "provider "+slug)
			continue
		}
		p.APIKeyCipher = sealed
		if _, err := proposeFor[fsm.Provider](ctx, o, fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Provider: p, ExpectVersion: p.Version}); err != nil {
			return out, err
		}
		out.Providers++
	}
	for _, id := range slices.Sorted(maps.Keys(st.Policies)) {
		p := *st.Policies[id]
		changed := false
		keys := map[string][]byte{}
		for slug, c := range p.OwnKeys {
			sealed, ok := again(secret.OrgKeyPurpose(id, slug), c)
			if !ok {
				out.Failed = append(out.Failed, "org "+id+" own key for "+slug)
				sealed = c
			}
			keys[slug], changed = sealed, changed || ok
		}
		if len(p.OwnKeys) > 0 {
			p.OwnKeys = keys
		}
		if len(p.Alerts.SecretCipher) > 0 {
			if sealed, ok := again(secret.AlertSecretPurpose(id), p.Alerts.SecretCipher); ok {
				p.Alerts.SecretCipher, changed = sealed, true
			} else {
				out.Failed = append(out.Failed, "org "+id+" alert secret")
			}
		}
		if !changed {
			continue
		}
		if _, err := proposeFor[fsm.Policy](ctx, o, fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: p, ExpectVersion: p.Version}); err != nil {
			return out, err
		}
		out.Policies++
	}
	o.audit(c, "secrets resealed", "providers", out.Providers, "policies", out.Policies, "failed", len(out.Failed))
	return out, nil
}

// RestoreSnapshot replaces the whole replicated state with a backup,
// through raft, so every node restores the same state at the same log
// index (super admins only). It answers the restored state.
func (o *Ops) RestoreSnapshot(ctx context.Context, c Caller, in Input[[]byte]) (*fsm.State, error) {
	o.begin(SnapshotRestore)
	if err := c.RequireSuper(); err != nil {
		return nil, err
	}
	b, err := in()
	if err != nil {
		return nil, err
	}
	st, err := fsm.ReadSnapshot(bytes.NewReader(b))
	if err != nil {
		return nil, Invalid("snapshot", err.Error())
	}
	if !st.Bootstrapped() {
		return nil, Invalid("snapshot", "snapshot holds no bootstrapped state")
	}
	if _, err := proposeFor[fsm.NoResult](ctx, o, fsm.TypeRestoreState, fsm.RestoreBody{Snapshot: b}); err != nil {
		return nil, err
	}
	o.log.Warn("replicated state restored from a snapshot", "orgs", len(st.Orgs), "keys", st.KeyCount(), "providers", len(st.Providers), "user_id", c.userID())
	return st, nil
}
