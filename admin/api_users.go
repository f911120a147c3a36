package admin

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/fsm"
)

// userRequest creates or changes a user (members of orgs and admins).
type userRequest struct {
	Email    *string `json:"email"`
	Name     *string `json:"name"`
	Password *string `json:"password"`
	Role     *string `json:"role"`
	OrgID    *string `json:"org_id"`
	Disabled *bool   `json:"disabled"`
}

// patch is the request as the operations take it.
func (req userRequest) patch() ops.UserPatch {
	return ops.UserPatch{Email: req.Email, Name: req.Name, Password: req.Password, Role: req.Role, OrgID: req.OrgID, Disabled: req.Disabled}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	qs, err := queryParams(r, "org_id")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[userJSON]{Data: s.usersOf(principalFrom(r.Context()), qs.Get("org_id"))})
	return nil
}

// usersOf lists the users p may see, of one org or all.
func (s *Server) usersOf(p principal, org string) []userJSON {
	return s.usersWhere(p.caller(), func(u *fsm.User) bool { return org == "" || u.OrgID == org })
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req userRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := s.ops.CreateUser(r.Context(), principalFrom(r.Context()).caller(), req.patch())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toUserJSON(u))
	return nil
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) error {
	var req userRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := s.ops.UpdateUser(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "id"), req.patch())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}
