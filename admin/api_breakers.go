package admin

import (
	"net/http"
	"time"
)

// BreakerStatus is one upstream target's circuit breaker on this node.
type BreakerStatus struct {
	Provider string    `json:"provider"`
	Model    string    `json:"model"`
	Org      string    `json:"org,omitempty"` // set for an org with its own breaker settings
	State    string    `json:"state"`         // closed, open or half_open
	Until    time.Time `json:"until,omitzero"`
}

// listBreakers shows the answering node's circuit breakers. Transitions
// are shared between nodes within a second, so any node shows what the
// cluster knows; node says which one answered.
func (s *Server) listBreakers(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	data := []BreakerStatus{}
	if s.d.Breakers != nil {
		for _, b := range s.d.Breakers() {
			if b.Org == "" || principalFrom(r.Context()).canRead(b.Org) {
				data = append(data, b)
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": s.d.Cluster.Status().NodeID, "data": data})
	return nil
}
