// Package route resolves the model a client names to the upstream targets
// that may serve it, in the order to try them.
package route

import (
	"slices"

	"github.com/tensorgate/tensorgate/fsm"
)

// Target is one upstream choice.
type Target struct {
	Provider *fsm.Provider
	Model    string // the upstream's model name
	Weight   int    // the route's weight for it (weighted strategy)
}

// Filter says whether a provider may serve this call (org policy, the
// adapter's support for the operation).
type Filter func(p *fsm.Provider) bool

// Resolve returns the targets for model: a route of that name if one exists,
// else every enabled provider that lists the model, in provider order.
// Providers that are disabled, lack the capability or fail the filter are
// left out. An empty answer means the model is unknown to the caller.
func Resolve(state *fsm.State, model, capability string, allow Filter) []Target {
	usable := func(p *fsm.Provider) bool {
		return p != nil && p.Enabled && hasCapability(p, capability) && (allow == nil || allow(p))
	}
	if r, ok := state.Routes[model]; ok {
		out := make([]Target, 0, len(r.Targets))
		for _, t := range r.Targets {
			if p := state.Providers[t.Provider]; usable(p) && p.Open(t.Model) {
				out = append(out, Target{Provider: p, Model: t.Model, Weight: max(1, t.Weight)})
			}
		}
		return out
	}
	var out []Target
	for _, slug := range state.ProviderOrder {
		p := state.Providers[slug]
		if usable(p) && p.Offers(model) {
			out = append(out, Target{Provider: p, Model: model, Weight: 1})
		}
	}
	return out
}

// StrategyFor is the strategy a caller's request for model uses: the
// org policy's when it sets one, else the route's, else priority (the
// order of providers).
func StrategyFor(state *fsm.State, model string, policy *fsm.Policy) string {
	if policy != nil && policy.Strategy != "" {
		return policy.Strategy
	}
	if r := state.Routes[model]; r != nil && r.Strategy != "" {
		return r.Strategy
	}
	return fsm.StrategyPriority
}

// Models lists every model name resolvable for capability under allow:
// route names and provider models, deduplicated, in a stable order.
func Models(state *fsm.State, capability string, allow Filter) []ModelInfo {
	seen := map[string]bool{}
	var out []ModelInfo
	for _, slug := range state.ProviderOrder {
		p := state.Providers[slug]
		if !p.Enabled || !hasCapability(p, capability) || (allow != nil && !allow(p)) {
			continue
		}
		for _, m := range p.Models {
			if !seen[m] && state.Routes[m] == nil && p.Open(m) {
				seen[m] = true
				out = append(out, ModelInfo{ID: m, OwnedBy: p.Slug})
			}
		}
	}
	names := make([]string, 0, len(state.Routes))
	for name := range state.Routes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !seen[name] && len(Resolve(state, name, capability, allow)) > 0 {
			seen[name] = true
			out = append(out, ModelInfo{ID: name, OwnedBy: "tensorgate"})
		}
	}
	return out
}

// ModelInfo is one entry of /v1/models.
type ModelInfo struct {
	ID      string
	OwnedBy string
}

// Serves reports whether a provider offers a capability.
func Serves(p *fsm.Provider, c string) bool { return hasCapability(p, c) }

func hasCapability(p *fsm.Provider, c string) bool {
	if len(p.Capabilities) == 0 {
		return c == "llm"
	}
	return slices.Contains(p.Capabilities, c)
}
