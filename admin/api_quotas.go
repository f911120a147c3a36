package admin

import (
	"net/http"

	"github.com/tensorgate/tensorgate/fsm"
)

// listQuotas shows every configured limit against what counts toward it
// now, cluster-wide: the replicated state answers on any node.
func (s *Server) listQuotas(w http.ResponseWriter, r *http.Request) error {
	qs, err := queryParams(r, "org_id", "key_id", "kind")
	if err != nil {
		return err
	}
	org, key, kind := qs.Get("org_id"), qs.Get("key_id"), qs.Get("kind")
	switch kind {
	case "", fsm.KindRPM, fsm.KindTPM, fsm.KindConcurrency, fsm.KindBudget:
	default:
		return badRequest("kind", "kind must be rpm, tpm, concurrency or budget")
	}
	p := principalFrom(r.Context())
	out := s.d.Viewer.View().QuotaStatuses(s.d.Now(), func(scope, id, orgID string) bool {
		return p.canRead(orgID) && (org == "" || orgID == org) && (key == "" || scope == fsm.ScopeKey && id == key)
	})
	data := make([]fsm.QuotaStatus, 0, len(out))
	for _, st := range out {
		if kind == "" || st.Kind == kind {
			data = append(data, st)
		}
	}
	writeJSON(w, http.StatusOK, list[fsm.QuotaStatus]{Data: data})
	return nil
}
