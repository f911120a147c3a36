package fsm

func init() {
	register(TypeOrgUpsert, applyOrgUpsert)
	register(TypeOrgDelete, applyOrgDelete)
}

func applyOrgUpsert(next *State, c decoded, b OrgUpsertBody, index uint64) (*Org, error) {
	o := b.Org
	if err := o.Validate(); err != nil {
		return nil, err
	}
	old, err := checkUpsert(next.Orgs[o.ID], o.ID, b.Create, b.ExpectVersion, func(o *Org) uint64 { return o.Version }, "org")
	if err != nil {
		return nil, err
	}
	if other, ok := next.OrgByName(o.Name); ok && other.ID != o.ID {
		return nil, conflict("name", "an org named %q already exists", o.Name)
	}
	o.CreatedAt = c.Time
	if old != nil {
		o.CreatedAt = old.CreatedAt
	}
	o.UpdatedAt, o.Version = c.Time, index
	next.Orgs = with(next.Orgs, o.ID, &o)
	return &o, nil
}

func applyOrgDelete(next *State, c decoded, b DeleteBody, _ uint64) (*NoResult, error) {
	if _, ok := next.Orgs[b.ID]; !ok {
		return nil, notFound("org %q not found", b.ID)
	}
	if len(next.Orgs) == 1 {
		return nil, conflict("id", "the last org cannot be deleted")
	}
	for _, k := range next.AllKeys() {
		if k.OrgID == b.ID && k.RevokedAt == nil {
			return nil, conflict("id", "org %q still has active keys; revoke them first", b.ID)
		}
	}
	for _, u := range next.Users {
		if u.OrgID == b.ID {
			return nil, conflict("id", "org %q still has members; remove them first", b.ID)
		}
	}
	next.Orgs = without(next.Orgs, b.ID)
	if _, ok := next.Policies[b.ID]; ok {
		next.Policies = without(next.Policies, b.ID)
	}
	return &NoResult{}, nil
}
