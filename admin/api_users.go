package admin

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
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

// mayManageUser reports whether p may create or change a user with role
// in org: super admins anyone; org admins the org admins and members of
// their own org.
func (p principal) mayManageUser(role, orgID string) bool {
	if p.super() {
		return true
	}
	return p.user.Role == fsm.RoleOrgAdmin && orgID == p.user.OrgID && (role == fsm.RoleOrgAdmin || role == fsm.RoleMember)
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
	out := []userJSON{}
	for _, u := range s.d.Viewer.View().Users {
		if (u.OrgID == "" && !p.super()) || (u.OrgID != "" && !p.canRead(u.OrgID)) || (org != "" && u.OrgID != org) {
			continue
		}
		out = append(out, toUserJSON(u))
	}
	slices.SortFunc(out, func(a, b userJSON) int { return strings.Compare(a.Email, b.Email) })
	return out
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req userRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := s.newUser(r.Context(), principalFrom(r.Context()), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toUserJSON(u))
	return nil
}

// newUser creates a user for p (the API and the console).
func (s *Server) newUser(ctx context.Context, p principal, req userRequest) (*fsm.User, error) {
	if req.Email == nil || req.Password == nil || req.Role == nil {
		return nil, badRequest("email", "email, password and role are required")
	}
	org := ""
	if req.OrgID != nil {
		org = *req.OrgID
	}
	if *req.Role == fsm.RoleSuperAdmin {
		org = ""
	} else if org == "" {
		org = p.user.OrgID
	}
	if org != "" {
		if _, ok := s.d.Viewer.View().Orgs[org]; !ok || !p.canRead(org) {
			return nil, badRequest("org_id", "org_id: org "+org+" not found")
		}
	}
	if !p.mayManageUser(*req.Role, org) {
		return nil, forbidden("you may not add users with this role to this org")
	}
	if err := validatePassword(*req.Password); err != nil {
		return nil, badRequest("password", "password: "+err.Error())
	}
	email := normalizeEmail(*req.Email)
	if _, taken := s.d.Viewer.View().UserByEmail(email); taken {
		return nil, &apiError{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict", Param: "email", Message: "email: a user with this email exists"}
	}
	hash, err := HashPassword(*req.Password)
	if err != nil {
		return nil, err
	}
	u := fsm.User{ID: newID("usr"), Email: email, PasswordHash: hash, Role: *req.Role, OrgID: org}
	if req.Name != nil {
		u.Name = strings.TrimSpace(*req.Name)
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, fsm.TypeUserUpsert, fsm.UserUpsertBody{User: u, Create: true})
	if err != nil {
		return nil, err
	}
	s.log.Info("user created", "user_id", u.ID, "org_id", org, "role", u.Role, "by", p.user.ID)
	return res.(*fsm.User), nil
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) error {
	var req userRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := s.changeUser(r.Context(), principalFrom(r.Context()), chi.URLParam(r, "id"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

// changeUser changes a user's name, role or disabled flag; nobody changes
// their own role or disables themselves.
func (s *Server) changeUser(ctx context.Context, p principal, id string, req userRequest) (*fsm.User, error) {
	cur, ok := s.d.Viewer.View().Users[id]
	if !ok || (cur.OrgID == "" && !p.super()) || (cur.OrgID != "" && !p.canRead(cur.OrgID)) {
		return nil, notFoundErr("user " + id + " not found")
	}
	if !p.mayManageUser(cur.Role, cur.OrgID) {
		return nil, forbidden("you may not change this user")
	}
	next := *cur
	if req.Name != nil {
		next.Name = strings.TrimSpace(*req.Name)
	}
	if req.Role != nil && *req.Role != cur.Role {
		if cur.ID == p.user.ID {
			return nil, badRequest("role", "role: you cannot change your own role")
		}
		if !p.mayManageUser(*req.Role, cur.OrgID) || *req.Role == fsm.RoleSuperAdmin && cur.OrgID != "" {
			return nil, forbidden("you may not give this role")
		}
		next.Role = *req.Role
	}
	if req.Disabled != nil && *req.Disabled != cur.Disabled {
		if cur.ID == p.user.ID {
			return nil, badRequest("disabled", "disabled: you cannot disable yourself")
		}
		next.Disabled = *req.Disabled
		next.SessionGen++ // a disabled user's sessions end now
	}
	if err := next.Validate(); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, fsm.TypeUserUpsert, fsm.UserUpsertBody{User: next, ExpectVersion: cur.Version})
	if err != nil {
		return nil, err
	}
	return res.(*fsm.User), nil
}
