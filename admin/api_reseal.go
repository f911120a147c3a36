package admin

import (
	"net/http"

	"github.com/tensorgate/tensorgate/admin/ops"
)

// resealResult says what a reseal did.
type resealResult = ops.ResealResult

// reseal seals every stored secret again under the node's current
// BETTER_AUTH_SECRET (ops.Reseal).
func (s *Server) reseal(w http.ResponseWriter, r *http.Request) error {
	out, err := s.ops.Reseal(r.Context(), principalFrom(r.Context()).caller())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
