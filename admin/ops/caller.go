package ops

import "github.com/tensorgate/tensorgate/fsm"

// Caller is the signed-in user an operation runs for.
type Caller struct {
	User *fsm.User
}

func (c Caller) userID() string {
	if c.User == nil {
		return ""
	}
	return c.User.ID
}

// Super reports whether the caller is a super admin.
func (c Caller) Super() bool { return c.User != nil && c.User.Role == fsm.RoleSuperAdmin }

// CanRead reports whether the caller may see org's records.
func (c Caller) CanRead(orgID string) bool {
	return c.Super() || (c.User != nil && c.User.OrgID == orgID)
}

// CanManage reports whether the caller may change org's keys and policy.
func (c Caller) CanManage(orgID string) bool {
	return c.Super() || (c.User != nil && c.User.Role == fsm.RoleOrgAdmin && c.User.OrgID == orgID)
}

// RequireSuper refuses a caller who is not a super admin.
func (c Caller) RequireSuper() error {
	if !c.Super() {
		return Forbidden("this action needs the super admin role")
	}
	return nil
}
