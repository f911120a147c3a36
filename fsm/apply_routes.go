package fsm

func init() {
	register(TypeRouteUpsert, applyRouteUpsert)
	register(TypeRouteDelete, applyRouteDelete)
	register(TypePriceUpsert, applyPriceUpsert)
	register(TypePriceDelete, applyPriceDelete)
	register(TypePolicyUpsert, applyPolicyUpsert)
}

func applyRouteUpsert(next *State, c decoded, b RouteUpsertBody, index uint64) (*Route, error) {
	r := b.Route
	if err := r.Validate(); err != nil {
		return nil, err
	}
	for i, t := range r.Targets {
		if _, ok := next.Providers[t.Provider]; !ok {
			return nil, invalid("targets", "target %d: provider %q not found", i, t.Provider)
		}
	}
	r.UpdatedAt, r.Version = c.Time, index
	next.Routes = with(next.Routes, r.Model, &r)
	return &r, nil
}

func applyRouteDelete(next *State, c decoded, b DeleteBody, _ uint64) (*NoResult, error) {
	if _, ok := next.Routes[b.ID]; !ok {
		return nil, notFound("route %q not found", b.ID)
	}
	next.Routes = without(next.Routes, b.ID)
	return &NoResult{}, nil
}

func applyPriceUpsert(next *State, c decoded, b PriceUpsertBody, index uint64) (*Price, error) {
	p := b.Price
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p.UpdatedAt, p.Version = c.Time, index
	next.Prices = with(next.Prices, p.Model, &p)
	return &p, nil
}

func applyPriceDelete(next *State, c decoded, b DeleteBody, _ uint64) (*NoResult, error) {
	if _, ok := next.Prices[b.ID]; !ok {
		return nil, notFound("price for %q not found", b.ID)
	}
	next.Prices = without(next.Prices, b.ID)
	return &NoResult{}, nil
}

func applyPolicyUpsert(next *State, c decoded, b PolicyUpsertBody, index uint64) (*Policy, error) {
	p := b.Policy
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if _, ok := next.Orgs[p.OrgID]; !ok {
		return nil, notFound("org %q not found", p.OrgID)
	}
	if old, ok := next.Policies[p.OrgID]; ok && b.ExpectVersion != 0 && old.Version != b.ExpectVersion {
		return nil, conflict("version", "policy of org %q was changed concurrently; reload and retry", p.OrgID)
	}
	for _, slug := range p.providerRefs() {
		if _, ok := next.Providers[slug]; !ok {
			return nil, invalid("providers", "provider %q not found", slug)
		}
	}
	p.UpdatedAt, p.Version = c.Time, index
	next.Policies = with(next.Policies, p.OrgID, &p)
	return &p, nil
}
