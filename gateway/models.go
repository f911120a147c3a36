package gateway

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/route"
)

type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// models lists the models this key may call: the org's providers' models
// and routes, narrowed by the key's allow-list.
func (s *Server) models(w http.ResponseWriter, r *http.Request, rid string) error {
	state := s.state.View()
	p, err := s.authenticate(r, state, "")
	if err != nil {
		return err
	}
	out := []modelEntry{}
	for _, m := range route.Models(state, "llm", func(pv *fsm.Provider) bool { return p.AllowProvider(pv.Slug) }) {
		if len(p.Key.Models) > 0 && !slices.Contains(p.Key.Models, m.ID) {
			continue
		}
		out = append(out, modelEntry{ID: m.ID, Object: "model", OwnedBy: m.OwnedBy})
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": out})
}
