package ops

import (
	"context"
	"strings"

	"github.com/tensorgate/tensorgate/fsm"
)

// UserPatch holds the user fields a request sets; nil keeps a value.
type UserPatch struct {
	Email    *string
	Name     *string
	Password *string
	Role     *string
	OrgID    *string
	Disabled *bool
}

// mayManageUser reports whether c may create or change a user with role
// in org: super admins anyone; org admins the org admins and members of
// their own org.
func (c Caller) mayManageUser(role, orgID string) bool {
	if c.Super() {
		return true
	}
	return c.User != nil && c.User.Role == fsm.RoleOrgAdmin && orgID == c.User.OrgID && (role == fsm.RoleOrgAdmin || role == fsm.RoleMember)
}

// CanSeeUser reports whether c may see u: super admins everyone, others
// the users of the orgs they read.
func (c Caller) CanSeeUser(u *fsm.User) bool {
	if u.OrgID == "" {
		return c.Super()
	}
	return c.CanRead(u.OrgID)
}

// CreateUser adds a user: a super admin (no org), or an org admin or
// member (of the caller's org unless the patch names one).
func (o *Ops) CreateUser(ctx context.Context, c Caller, in UserPatch) (*fsm.User, error) {
	o.begin(UserCreate)
	if in.Email == nil || in.Password == nil || in.Role == nil {
		return nil, Invalid("email", "email, password and role are required")
	}
	st := o.d.Viewer.View()
	org := ""
	if in.OrgID != nil {
		org = *in.OrgID
	}
	if *in.Role == fsm.RoleSuperAdmin {
		org = ""
	} else if org == "" && c.User != nil {
		org = c.User.OrgID
	}
	if org != "" {
		if _, ok := st.Orgs[org]; !ok || !c.CanRead(org) {
			return nil, Invalid("org_id", "org_id: org "+org+" not found")
		}
	}
	if !c.mayManageUser(*in.Role, org) {
		return nil, Forbidden("you may not add users with this role to this org")
	}
	if err := ValidatePassword(*in.Password); err != nil {
		return nil, Invalid("password", "password: "+err.Error())
	}
	email := NormalizeEmail(*in.Email)
	if _, taken := st.UserByEmail(email); taken {
		return nil, &Error{Kind: KindConflict, Param: "email", Message: "email: a user with this email exists"}
	}
	hash, err := HashPassword(*in.Password)
	if err != nil {
		return nil, err
	}
	u := fsm.User{ID: NewID("usr"), Email: email, PasswordHash: hash, Role: *in.Role, OrgID: org}
	if in.Name != nil {
		u.Name = strings.TrimSpace(*in.Name)
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	res, err := proposeFor[fsm.User](ctx, o, fsm.TypeUserUpsert, fsm.UserUpsertBody{User: u, Create: true})
	if err != nil {
		return nil, err
	}
	o.audit(c, "user created", "target_user_id", u.ID, "org_id", org, "role", u.Role)
	return res, nil
}

// UpdateUser changes a user's name, role or disabled flag; nobody changes
// their own role or disables themselves. Disabling ends the user's
// sessions.
func (o *Ops) UpdateUser(ctx context.Context, c Caller, id string, in UserPatch) (*fsm.User, error) {
	o.begin(UserUpdate)
	cur, ok := o.d.Viewer.View().Users[id]
	if !ok || !c.CanSeeUser(cur) {
		return nil, NotFound("user " + id + " not found")
	}
	if !c.mayManageUser(cur.Role, cur.OrgID) {
		return nil, Forbidden("you may not change this user")
	}
	// What an update does not change it refuses, rather than answering
	// success with nothing done: a password is its user's own to change
	// (SetPassword), and a user keeps their email and org.
	switch {
	case in.Password != nil:
		return nil, Invalid("password", "password: a user changes their own password; an admin cannot set it")
	case in.Email != nil && NormalizeEmail(*in.Email) != cur.Email:
		return nil, Invalid("email", "email: cannot change")
	case in.OrgID != nil && *in.OrgID != cur.OrgID:
		return nil, Invalid("org_id", "org_id: a user cannot move to another org")
	}
	self := cur.ID == c.userID()
	next := *cur
	if in.Name != nil {
		next.Name = strings.TrimSpace(*in.Name)
	}
	if in.Role != nil && *in.Role != cur.Role {
		if self {
			return nil, Invalid("role", "role: you cannot change your own role")
		}
		if !c.mayManageUser(*in.Role, cur.OrgID) || *in.Role == fsm.RoleSuperAdmin && cur.OrgID != "" {
			return nil, Forbidden("you may not give this role")
		}
		next.Role = *in.Role
	}
	if in.Disabled != nil && *in.Disabled != cur.Disabled {
		if self {
			return nil, Invalid("disabled", "disabled: you cannot disable yourself")
		}
		next.Disabled = *in.Disabled
		next.SessionGen++ // a disabled user's sessions end now
	}
	if err := next.Validate(); err != nil {
		return nil, err
	}
	res, err := proposeFor[fsm.User](ctx, o, fsm.TypeUserUpsert, fsm.UserUpsertBody{User: next, ExpectVersion: cur.Version})
	if err != nil {
		return nil, err
	}
	o.audit(c, "user changed", "target_user_id", cur.ID, "org_id", cur.OrgID, "role", next.Role, "disabled", next.Disabled)
	return res, nil
}

// SetPassword changes the caller's own password; every other session of
// the caller ends.
func (o *Ops) SetPassword(ctx context.Context, c Caller, current, newPassword string) (*fsm.User, error) {
	o.begin(PasswordChange)
	u := c.User
	if u == nil || !CheckPassword(current, u.PasswordHash) {
		return nil, &Error{Kind: KindUnauthenticated, Code: "invalid_credentials", Param: "current_password", Message: "current_password: is wrong"}
	}
	if err := ValidatePassword(newPassword); err != nil {
		return nil, Invalid("new_password", "new_password: "+err.Error())
	}
	if newPassword == current {
		return nil, Invalid("new_password", "new_password: must differ from the current password")
	}
	hash, err := HashPassword(newPassword)
	if err != nil {
		return nil, err
	}
	next := *u
	next.PasswordHash = hash
	next.MustChangePassword = false
	next.SessionGen++
	res, err := proposeFor[fsm.User](ctx, o, fsm.TypeUserUpsert, fsm.UserUpsertBody{User: next, ExpectVersion: u.Version})
	if err != nil {
		return nil, err
	}
	o.audit(c, "password changed")
	return res, nil
}
