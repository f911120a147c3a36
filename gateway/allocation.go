package gateway

import (
	"context"
	"slices"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/auth"
	"github.com/tensorgate/tensorgate/gateway/quota"
	"github.com/tensorgate/tensorgate/gateway/route"
)

// resultAllocationFull marks a target skipped because the org's
// allocation on its provider was in use.
const resultAllocationFull = "allocation_full"

// plan orders a request's targets: by the org's traffic shares when its
// policy sets them for these providers, else by the strategy (the org's,
// else the route's); then the org's overflow pool, when its policy spills,
// goes last, for when the others are full or failing.
func (s *Server) plan(state *fsm.State, p auth.Principal, model, capability string, targets []route.Target) []route.Target {
	pol := p.Policy
	strategy, key := route.StrategyFor(state, model, pol), model
	if pol != nil && hasShares(pol, targets) {
		shared := slices.Clone(targets)
		for i := range shared {
			shared[i].Weight = pol.Allocation[shared[i].Provider.Slug].SharePercent
		}
		targets, strategy, key = shared, fsm.StrategyWeighted, "org:"+pol.OrgID+":"+model
	}
	out := s.balancer.Order(key, strategy, targets)
	if pol == nil || pol.Overflow.Mode != fsm.OverflowSpill {
		return out
	}
	pool := state.Providers[pol.Overflow.Pool]
	if pool == nil || !pool.Enabled || slices.ContainsFunc(out, func(t route.Target) bool { return t.Provider.Slug == pool.Slug }) {
		return out
	}
	if spill := route.Resolve(state, model, capability, func(pv *fsm.Provider) bool { return pv.Slug == pool.Slug }); len(spill) > 0 {
		out = append(out, spill[0])
	} else if pool.Offers(model) && route.Serves(pool, capability) {
		// The model has a route the pool is not in, but the pool serves
		// the model under the same name.
		out = append(out, route.Target{Provider: pool, Model: model, Weight: 1})
	}
	return out
}

func hasShares(pol *fsm.Policy, targets []route.Target) bool {
	for _, t := range targets {
		if pol.Allocation[t.Provider.Slug].SharePercent > 0 {
			return true
		}
	}
	return false
}

// allocationSlot takes a slot of the org's allocation on a provider when
// its policy caps it; full reports that none is free.
func (s *Server) allocationSlot(ctx context.Context, p auth.Principal, provider string) (slot quota.Ticket, full bool) {
	if s.limiter == nil || p.Policy == nil || p.Policy.Allocation[provider].Concurrency <= 0 {
		return quota.Ticket{}, false
	}
	t, err := s.limiter.AdmitSlot(ctx, p.Org.ID, provider, p.Policy)
	return t, err != nil
}
