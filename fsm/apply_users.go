package fsm

func init() {
	register(TypeUserUpsert, applyUserUpsert)
	register(TypeUserDelete, applyUserDelete)
}

func applyUserUpsert(next *State, c decoded, b UserUpsertBody, index uint64) (*User, error) {
	u := b.User
	if err := u.Validate(); err != nil {
		return nil, err
	}
	old, err := checkUpsert(next.Users[u.ID], u.ID, b.Create, b.ExpectVersion, func(u *User) uint64 { return u.Version }, "user")
	if err != nil {
		return nil, err
	}
	if other, ok := next.usersByEmail[u.Email]; ok && other.ID != u.ID {
		return nil, conflict("email", "a user with email %q already exists", u.Email)
	}
	if u.OrgID != "" {
		if _, ok := next.Orgs[u.OrgID]; !ok {
			return nil, notFound("org %q not found", u.OrgID)
		}
	}
	if old != nil && old.Role == RoleSuperAdmin && (u.Role != RoleSuperAdmin || u.Disabled) && superAdmins(next) == 1 {
		return nil, conflict("role", "the last super admin cannot be demoted or disabled")
	}
	u.CreatedAt = c.Time
	if old != nil {
		u.CreatedAt = old.CreatedAt
	}
	u.UpdatedAt, u.Version = c.Time, index
	next.Users = with(next.Users, u.ID, &u)
	byEmail := next.usersByEmail
	if old != nil && old.Email != u.Email {
		byEmail = without(byEmail, old.Email)
	}
	next.usersByEmail = with(byEmail, u.Email, &u)
	return &u, nil
}

func applyUserDelete(next *State, c decoded, b DeleteBody, _ uint64) (*NoResult, error) {
	u, ok := next.Users[b.ID]
	if !ok {
		return nil, notFound("user %q not found", b.ID)
	}
	if u.Role == RoleSuperAdmin && superAdmins(next) == 1 {
		return nil, conflict("id", "the last super admin cannot be deleted")
	}
	next.Users = without(next.Users, b.ID)
	next.usersByEmail = without(next.usersByEmail, u.Email)
	return &NoResult{}, nil
}

func superAdmins(s *State) int {
	n := 0
	for _, u := range s.Users {
		if u.Role == RoleSuperAdmin && !u.Disabled {
			n++
		}
	}
	return n
}
