package fsm

import "slices"

func init() {
	register(TypeProviderUpsert, applyProviderUpsert)
	register(TypeProviderDelete, applyProviderDelete)
}

func applyProviderUpsert(next *State, c decoded, b ProviderUpsertBody, index uint64) (*Provider, error) {
	p := b.Provider
	if err := p.Validate(); err != nil {
		return nil, err
	}
	old, err := checkUpsert(next.Providers[p.Slug], p.Slug, b.Create, b.ExpectVersion, func(p *Provider) uint64 { return p.Version }, "provider")
	if err != nil {
		return nil, err
	}
	p.CreatedAt = c.Time
	if old != nil {
		p.CreatedAt = old.CreatedAt
	} else {
		next.ProviderOrder = append(slices.Clone(next.ProviderOrder), p.Slug)
	}
	p.UpdatedAt, p.Version = c.Time, index
	next.Providers = with(next.Providers, p.Slug, &p)
	return &p, nil
}

func applyProviderDelete(next *State, c decoded, b DeleteBody, _ uint64) (*NoResult, error) {
	if _, ok := next.Providers[b.ID]; !ok {
		return nil, notFound("provider %q not found", b.ID)
	}
	for _, m := range sortedKeys(next.Routes) {
		for _, t := range next.Routes[m].Targets {
			if t.Provider == b.ID {
				return nil, conflict("slug", "route %q still targets provider %q", m, b.ID)
			}
		}
	}
	for _, id := range sortedKeys(next.Policies) {
		if slices.Contains(next.Policies[id].providerRefs(), b.ID) {
			return nil, conflict("slug", "the policy of org %q still names provider %q", id, b.ID)
		}
	}
	next.Providers = without(next.Providers, b.ID)
	next.ProviderOrder = slices.DeleteFunc(slices.Clone(next.ProviderOrder), func(s string) bool { return s == b.ID })
	return &NoResult{}, nil
}
