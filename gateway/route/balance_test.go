package route

import (
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/breaker"
)

func targets(weights ...int) []Target {
	var ts []Target
	for i, w := range weights {
		ts = append(ts, Target{Provider: &fsm.Provider{Slug: string(rune('a' + i))}, Model: "m", Weight: w})
	}
	return ts
}

func TestWeightedFollowsWeightsAndInterleaves(t *testing.T) {
	b := NewBalancer()
	ts := targets(3, 1)
	count := map[string]int{}
	var seq []byte
	for range 400 {
		o := b.Order("r", fsm.StrategyWeighted, ts)
		count[o[0].Provider.Slug]++
		seq = append(seq, o[0].Provider.Slug[0])
		if len(o) != 2 || o[0].Provider == o[1].Provider {
			t.Fatalf("order %v", o)
		}
	}
	if count["a"] != 300 || count["b"] != 100 {
		t.Fatalf("3:1 over 400 gave %v", count)
	}
	if string(seq[:8]) != "aabaaaba" {
		t.Fatalf("picks %s, want the interleaved aabaaaba", seq[:8])
	}
	// The failover chain after the choice is heaviest first.
	o := b.Order("r2", fsm.StrategyWeighted, targets(1, 5, 2))
	if o[0].Provider.Slug != "b" || o[1].Provider.Slug != "c" || o[2].Provider.Slug != "a" {
		t.Fatalf("order %v %v %v", o[0].Provider.Slug, o[1].Provider.Slug, o[2].Provider.Slug)
	}
}

func TestLeastLatencyPrefersTheFastestAndExplores(t *testing.T) {
	b := NewBalancer()
	b.Explore = 0
	ts := targets(1, 1, 1)
	// Unmeasured targets go first, so each gets measured.
	b.Observe(ts[0], 50*time.Millisecond)
	b.Observe(ts[2], 10*time.Millisecond)
	if o := b.Order("r", fsm.StrategyLeastLatency, ts); o[0].Provider.Slug != "b" || o[1].Provider.Slug != "c" {
		t.Fatalf("unmeasured first, then fastest: %v %v", o[0].Provider.Slug, o[1].Provider.Slug)
	}
	b.Observe(ts[1], 30*time.Millisecond)
	if o := b.Order("r", fsm.StrategyLeastLatency, ts); o[0].Provider.Slug != "c" || o[2].Provider.Slug != "a" {
		t.Fatal("not fastest first")
	}
	// c slows down: the average follows and traffic moves to b.
	for range 5 {
		b.Observe(ts[2], 200*time.Millisecond)
	}
	if o := b.Order("r", fsm.StrategyLeastLatency, ts); o[0].Provider.Slug != "b" {
		t.Fatalf("after c slowed to %v: %s first", b.Latency(ts[2]), o[0].Provider.Slug)
	}
	// Exploration sends some choices elsewhere.
	b.Explore = 0.2
	other := 0
	for range 1000 {
		if b.Order("r", fsm.StrategyLeastLatency, ts)[0].Provider.Slug != "b" {
			other++
		}
	}
	if other < 120 || other > 280 {
		t.Fatalf("%d of 1000 explored at 20%%", other)
	}
	// Priority keeps the given order.
	if o := b.Order("r", fsm.StrategyPriority, ts); o[0].Provider.Slug != "a" {
		t.Fatal("priority reordered")
	}
}

// BenchmarkSelect is the routing work of one request on the hot path:
// resolve the model's targets, order them by strategy, and ask the first
// target's breaker:
//
//	go test ./gateway/route -run '^$' -bench Select -benchmem
func BenchmarkSelect(b *testing.B) {
	st := testState(b)
	for _, strategy := range []string{fsm.StrategyPriority, fsm.StrategyWeighted, fsm.StrategyLeastLatency} {
		b.Run(strategy, func(b *testing.B) {
			bal := NewBalancer()
			set := breaker.NewSet(nil)
			ts := Resolve(st, "alias", "llm", nil)
			for _, t := range ts {
				bal.Observe(t, 20*time.Millisecond)
			}
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					o := bal.Order("alias", strategy, Resolve(st, "alias", "llm", nil))
					if ok, _ := set.Get(breaker.Key{Provider: o[0].Provider.Slug, Model: o[0].Model}, breaker.Settings{}).Allow(now); !ok {
						b.Fatal("refused")
					}
				}
			})
		})
	}
}
