package ops

import (
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
)

// TestGrantsMore lists what an org admin may not change in its own
// policy: what the system grants the org.
func TestGrantsMore(t *testing.T) {
	base := fsm.Policy{OrgID: "org_1", AllowedProviders: []string{"a"}, Limits: fsm.Limits{Budget: 10}}
	for name, tc := range map[string]struct {
		change func(p *fsm.Policy)
		more   bool
	}{
		"nothing":                  {func(p *fsm.Policy) {}, false},
		"strategy":                 {func(p *fsm.Policy) { p.Strategy = fsm.StrategyWeighted }, false},
		"breaker":                  {func(p *fsm.Policy) { p.Breaker.ConsecutiveFailures = 3 }, false},
		"spill to an allowed pool": {func(p *fsm.Policy) { p.Overflow = fsm.Overflow{Mode: fsm.OverflowSpill, Pool: "a"} }, false},
		"spill elsewhere":          {func(p *fsm.Policy) { p.Overflow = fsm.Overflow{Mode: fsm.OverflowSpill, Pool: "b"} }, true},
		"spill, every provider allowed": {func(p *fsm.Policy) {
			p.AllowedProviders = nil
			p.Overflow = fsm.Overflow{Mode: fsm.OverflowSpill, Pool: "b"}
		}, true}, // the allowed list changed too
		"limits":      {func(p *fsm.Policy) { p.Limits.Budget = 0 }, true},
		"allowed":     {func(p *fsm.Policy) { p.AllowedProviders = []string{"a", "b"} }, true},
		"allocation":  {func(p *fsm.Policy) { p.Allocation = map[string]fsm.Allocation{"a": {SharePercent: 50}} }, true},
		"partition":   {func(p *fsm.Policy) { p.Partition = fsm.PartitionFailOpen }, true},
		"fail open s": {func(p *fsm.Policy) { p.FailOpenSeconds = 60 }, true},
	} {
		next := base
		next.AllowedProviders = append([]string(nil), base.AllowedProviders...)
		tc.change(&next)
		if got := grantsMore(&base, &next); got != tc.more {
			t.Errorf("%s: grantsMore = %v, want %v", name, got, tc.more)
		}
	}
	// An org with every provider allowed may spill to any of them.
	open := fsm.Policy{OrgID: "org_1"}
	spill := open
	spill.Overflow = fsm.Overflow{Mode: fsm.OverflowSpill, Pool: "b"}
	if grantsMore(&open, &spill) {
		t.Error("a spill of an org allowed every provider counts as a grant")
	}
}
