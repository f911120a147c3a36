package admin

import (
	"maps"
	"net/http"
	"slices"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// resealResult says what a reseal did.
type resealResult struct {
	Providers int `json:"providers"`
	Policies  int `json:"policies"`
	// Failed lists records whose secret opens under neither the current
	// nor the previous BETTER_AUTH_SECRET; their keys must be entered
	// again.
	Failed []string `json:"failed"`
}

// reseal seals every stored secret (provider keys, orgs' own keys, alert
// webhook secrets) again under the node's current BETTER_AUTH_SECRET,
// through raft: the step of a secret rotation after every node runs with
// the new secret and the old one as BETTER_AUTH_SECRET_PREVIOUS.
func (s *Server) reseal(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	st := s.d.Viewer.View()
	out := resealResult{Failed: []string{}}
	again := func(purpose string, sealed []byte) ([]byte, bool) {
		pt, err := s.d.Keyring.Open(purpose, sealed)
		if err != nil {
			return nil, false
		}
		return s.d.Keyring.Seal(purpose, pt), true
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
		if _, err := s.propose(r.Context(), fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Provider: p, ExpectVersion: p.Version}); err != nil {
			return err
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
		if _, err := s.propose(r.Context(), fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: p, ExpectVersion: p.Version}); err != nil {
			return err
		}
		out.Policies++
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
