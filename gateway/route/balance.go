package route

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// Balancer orders a request's targets by the route's strategy. It keeps
// the state strategies need across requests: smooth weighted round-robin
// counters per route and a latency average per target.
type Balancer struct {
	mu   sync.Mutex
	swrr map[string]*swrr
	lat  sync.Map // targetKey -> *latency
	// Explore is the share of least-latency choices that go to a random
	// target instead of the fastest, so a recovered target is noticed
	// (default 0.05).
	Explore float64
}

// NewBalancer returns an empty balancer.
func NewBalancer() *Balancer { return &Balancer{swrr: map[string]*swrr{}, Explore: 0.05} }

type targetKey struct{ provider, model string }

// latency is an exponentially weighted moving average of time to first
// byte, in nanoseconds; 0 until the first sample.
type latency struct {
	ewma atomic.Int64
}

// alpha is the weight of a new latency sample.
const alpha = 0.3

// Observe records a target's time to first byte.
func (b *Balancer) Observe(t Target, ttfb time.Duration) {
	v, _ := b.lat.LoadOrStore(targetKey{t.Provider.Slug, t.Model}, &latency{})
	l := v.(*latency)
	for {
		old := l.ewma.Load()
		next := int64(ttfb)
		if old != 0 {
			next = int64(alpha*float64(ttfb) + (1-alpha)*float64(old))
		}
		if l.ewma.CompareAndSwap(old, next) {
			return
		}
	}
}

// Latency is a target's average time to first byte (0: no sample yet).
func (b *Balancer) Latency(t Target) time.Duration {
	if v, ok := b.lat.Load(targetKey{t.Provider.Slug, t.Model}); ok {
		return time.Duration(v.(*latency).ewma.Load())
	}
	return 0
}

// Order returns the targets in the order to try them under strategy: the
// first is the choice, the rest the failover chain. route names the
// weighted round-robin's counters (the route's model). ts is not changed.
func (b *Balancer) Order(route, strategy string, ts []Target) []Target {
	if len(ts) <= 1 {
		return ts
	}
	out := slices.Clone(ts)
	switch strategy {
	case fsm.StrategyWeighted:
		first := b.pickWeighted(route, out)
		// Then the others, heaviest first.
		out[0], out[first] = out[first], out[0]
		rest := out[1:]
		slices.SortStableFunc(rest, func(x, y Target) int { return weight(y) - weight(x) })
	case fsm.StrategyLeastLatency:
		lat := make(map[Target]time.Duration, len(out))
		for _, t := range out {
			lat[t] = b.Latency(t)
		}
		// Targets never measured go first: they must be tried to be known.
		slices.SortStableFunc(out, func(x, y Target) int {
			lx, ly := lat[x], lat[y]
			switch {
			case lx == ly:
				return 0
			case lx == 0:
				return -1
			case ly == 0:
				return 1
			case lx < ly:
				return -1
			}
			return 1
		})
		if b.Explore > 0 && rand.Float64() < b.Explore {
			i := 1 + rand.IntN(len(out)-1)
			out[0], out[i] = out[i], out[0]
		}
	}
	return out
}

// weight is a target's weight; 0 keeps it out of the choice (it stays in
// the failover chain).
func weight(t Target) int { return max(0, t.Weight) }

// swrr is nginx's smooth weighted round-robin: each pick adds every
// target's weight to its current value, picks the largest and takes the
// total from it. Picks follow the weights exactly over each cycle and
// interleave instead of bunching.
type swrr struct {
	key     []targetKey
	current []int
}

// pickWeighted returns the index in ts of the next weighted choice.
func (b *Balancer) pickWeighted(route string, ts []Target) int {
	keys := make([]targetKey, len(ts))
	for i, t := range ts {
		keys[i] = targetKey{t.Provider.Slug, t.Model}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.swrr[route]
	if s == nil || !slices.Equal(s.key, keys) {
		// New route, or its usable targets changed (a breaker opened):
		// start the cycle over for this set.
		s = &swrr{key: keys, current: make([]int, len(ts))}
		b.swrr[route] = s
	}
	total, best := 0, 0
	for i, t := range ts {
		w := weight(t)
		s.current[i] += w
		total += w
		if s.current[i] > s.current[best] {
			best = i
		}
	}
	s.current[best] -= total
	return best
}
