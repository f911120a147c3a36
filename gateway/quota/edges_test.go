package quota

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// simClock is the true time of a simulated cluster, moved by the test.
type simClock struct{ ns atomic.Int64 }

func (c *simClock) now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *simClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// skewed is a node's clock: the true time plus an offset.
func (c *simClock) skewed(d time.Duration) func() time.Time {
	return func() time.Time { return c.now().Add(d) }
}

// leaderRaft commits like raft for a whole cluster, each command stamped
// with the leader's clock as it commits it.
type leaderRaft struct {
	b      *fsmtest.Builder
	leader func() time.Time
}

func (r *leaderRaft) Apply(ctx context.Context, c fsm.Command) (any, error) {
	c.Time = r.leader()
	return r.b.Commit(ctx, c)
}

// simCluster is n quota managers on one replicated state, on a clock the
// test moves; syncs happen when a request waits (Run, with no ticker in
// the test's time) and every 200 ms of the test's time.
type simCluster struct {
	clock *simClock
	raft  *leaderRaft
	nodes []*Manager
	key   *fsm.Key
	b     *fsmtest.Builder
}

func newSim(t testing.TB, l fsm.Limits, skews []time.Duration, leader int) *simCluster {
	clock := &simClock{}
	clock.ns.Store(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC).UnixNano())
	b := fsmtest.New(t)
	b.Now = clock.now
	b.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: "k1", OrgID: "org1", Name: "k",
		Prefix: "gk_x", Hash: "0000000000000000000000000000000000000000000000000000000000000001", Scopes: fsm.Capabilities, Limits: l}})
	s := &simCluster{clock: clock, raft: &leaderRaft{b: b, leader: clock.skewed(skews[leader])}, key: b.View().Key("k1"), b: b}
	for i, d := range skews {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		m := New(Config{Node: fmt.Sprintf("n%d", i), Interval: 200 * time.Millisecond, TTL: 10 * time.Second, Now: clock.skewed(d)}, s.raft)
		go func() { // syncs for waiting requests; the test's ticks do the rest
			for {
				select {
				case <-ctx.Done():
					return
				case <-m.kick:
					m.SyncOnce(ctx)
				}
			}
		}()
		s.nodes = append(s.nodes, m)
	}
	return s
}

// admissions records the true instants of admitted requests and checks
// them with a sliding window.
type admissions []time.Time

// maxInWindow is the most admissions in any interval [t, t+w) starting
// at any instant: it suffices to start at each admission.
func (a admissions) maxInWindow(w time.Duration) (most int, at time.Time) {
	s := append(admissions(nil), a...)
	sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
	j := 0
	for i := range s {
		for j < len(s) && s[j].Sub(s[i]) < w {
			j++
		}
		if j-i > most {
			most, at = j-i, s[i]
		}
	}
	return most, at
}

func (a admissions) between(from, to time.Time) int {
	n := 0
	for _, t := range a {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

// runSim drives sim for d in steps of 50 ms: every live node gets perStep
// requests a step (demand beyond the limit) and reports every 200 ms. A
// node in pause gets nothing and says nothing; its queued requests are
// admitted the instant it resumes, before it syncs.
func (s *simCluster) runSim(t testing.TB, d time.Duration, perStep int, paused func(node int, at time.Duration) bool) admissions {
	ctx := context.Background()
	var got admissions
	const step = 50 * time.Millisecond
	wasPaused := make([]bool, len(s.nodes))
	queued := make([]int, len(s.nodes))
	for at := time.Duration(0); at < d; at += step {
		s.clock.advance(step)
		for i, m := range s.nodes {
			if paused(i, at) {
				wasPaused[i] = true
				queued[i] += perStep
				continue
			}
			n := perStep
			if wasPaused[i] {
				n, queued[i], wasPaused[i] = queued[i], 0, false
			}
			for range n {
				tk, err := m.Admit(ctx, Request{Key: s.key})
				if err != nil {
					var qe *Error
					if !errors.As(err, &qe) && !errors.Is(err, ErrUnavailable) {
						t.Fatalf("node %d at %v: %v", i, at, err)
					}
					continue
				}
				got = append(got, s.clock.now())
				tk.Settle(0, 0)
			}
			if at%(200*time.Millisecond) == 0 {
				m.SyncOnce(ctx)
			}
		}
	}
	return got
}

// TestPausedNodeKeepsEveryWindow: three nodes hammer an rpm 300 key; one
// holds a lease and is paused past its life, with requests queued. Over
// every 60 s interval starting at any instant, at most 300 are admitted,
// and while demand exceeds the limit at least 99% of it is used.
func TestPausedNodeKeepsEveryWindow(t *testing.T) {
	const limit = 300
	s := newSim(t, fsm.Limits{RPM: limit}, []time.Duration{0, 0, 0}, 0)
	start := s.clock.now()
	// First only n2 sends, for 3 s, so it holds a lease with units left.
	// At 30 s it pauses for 15 s (its lease lives 10 s) while n0 and n1
	// hammer; it resumes with its queue and hammers too.
	var got admissions
	quiet := s.runSim(t, 30*time.Second, 0, func(int, time.Duration) bool { return false })
	got = append(got, quiet...)
	for range 15 { // n2 alone, two requests every 200 ms
		s.clock.advance(200 * time.Millisecond)
		for range 2 {
			if tk, err := s.nodes[2].Admit(context.Background(), Request{Key: s.key}); err == nil {
				got = append(got, s.clock.now())
				tk.Settle(0, 0)
			}
		}
		s.nodes[2].SyncOnce(context.Background())
	}
	if b := s.nodes[2].get(limitID{0, kRPM, "k1"}).balance(); b <= 0 {
		t.Fatalf("n2 holds %d units as it pauses; the test needs some", b)
	}
	// Late in a second, so a bucket's second begins well before its units
	// were admitted.
	s.clock.advance(730 * time.Millisecond)
	hammer := s.clock.now()
	got = append(got, s.runSim(t, 5*time.Minute, 3, func(node int, at time.Duration) bool {
		return node == 2 && at < 15*time.Second
	})...)
	most, at := got.maxInWindow(fsm.QuotaWindow)
	if most > limit {
		t.Fatalf("%d admitted in the 60 s from %v (+%v)", most, at, at.Sub(start))
	}
	// Utilization once demand exceeds the limit: four full minutes.
	from := hammer.Add(time.Minute)
	n := got.between(from, from.Add(4*time.Minute))
	if u := float64(n) / (4 * limit); u < 0.99 {
		t.Fatalf("utilization %.4f (%d of %d in 4 min)", u, n, 4*limit)
	}
	t.Logf("most in any 60 s: %d of %d; utilization %.4f", most, limit, float64(n)/(4*limit))
}

// TestRetryAfterIsHonest: with rpm 2, the first refusal's Retry-After
// (rounded up to whole seconds, as the header goes out) lands when the
// oldest unit leaves the window, and one retry then succeeds.
func TestRetryAfterIsHonest(t *testing.T) {
	for _, skew := range []time.Duration{0, 2 * time.Second, -2 * time.Second} {
		t.Run(fmt.Sprintf("skew%v", skew), func(t *testing.T) {
			s := newSim(t, fsm.Limits{RPM: 2}, []time.Duration{skew, 0}, 1)
			m, ctx := s.nodes[0], context.Background()
			s.clock.advance(300 * time.Millisecond)
			for range 2 {
				if _, err := m.Admit(ctx, Request{Key: s.key}); err != nil {
					t.Fatal(err)
				}
			}
			s.clock.advance(200 * time.Millisecond)
			_, err := m.Admit(ctx, Request{Key: s.key})
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("third request: %v", err)
			}
			header := (qe.RetryAfter + time.Second - 1) / time.Second * time.Second
			if header < 59*time.Second || header > 61*time.Second {
				t.Fatalf("Retry-After %v (%v)", header, qe.RetryAfter)
			}
			s.clock.advance(header)
			if _, err := m.Admit(ctx, Request{Key: s.key}); err != nil {
				t.Fatalf("retry after %v: %v", header, err)
			}
		})
	}
}

// TestBudgetWriteOffComesBack: a node holding a budget lease is paused
// past its life; the cluster counts the lease as spent; when the node
// comes back it says what it spent and the rest returns to the budget.
func TestBudgetWriteOffComesBack(t *testing.T) {
	const price = 1000
	s := newSim(t, fsm.Limits{Budget: 100 * price, BudgetPeriod: fsm.PeriodTotal}, []time.Duration{0, 0}, 0)
	ctx := context.Background()
	a, b := s.nodes[0], s.nodes[1]
	spend := func(m *Manager, n int) {
		t.Helper()
		for range n {
			tk, err := m.Admit(ctx, Request{Key: s.key, Cost: 2 * price}) // reserves twice what it costs
			if err != nil {
				t.Fatal(err)
			}
			tk.Settle(0, price)
		}
	}
	spend(a, 5)
	a.SyncOnce(ctx)
	spend(a, 3) // unreported when a stops
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindBudget)
	status := func() fsm.QuotaStatus {
		for _, st := range s.b.View().QuotaStatuses(s.clock.now(), nil) {
			if st.Key == key {
				return st
			}
		}
		return fsm.QuotaStatus{}
	}
	held := status().Leased
	if held == 0 {
		t.Fatal("a holds no lease")
	}
	s.clock.advance(11 * time.Second) // a is paused past its lease
	spend(b, 1)
	b.SyncOnce(ctx)
	if st := status(); st.WrittenOff != held || st.Used != 5*price+held {
		t.Fatalf("after a's lease ran out: %+v (held %d)", st, held)
	}
	a.SyncOnce(ctx) // a is back
	if st := status(); st.WrittenOff != 0 || st.Used != 8*price || st.Refunded != held-3*price {
		t.Fatalf("after a came back: %+v (held %d)", st, held)
	}
}

// TestSkewedClockKeepsEveryWindow: one node's clock is 2 s ahead or
// behind (a follower, then the leader whose clock stamps the syncs);
// every 60 s interval still holds at most the limit.
func TestSkewedClockKeepsEveryWindow(t *testing.T) {
	const limit = 300
	for _, tc := range []struct {
		skew   time.Duration
		leader int
	}{{2 * time.Second, 0}, {-2 * time.Second, 0}, {2 * time.Second, 2}, {-2 * time.Second, 2}} {
		t.Run(fmt.Sprintf("skew%v-leader%d", tc.skew, tc.leader), func(t *testing.T) {
			s := newSim(t, fsm.Limits{RPM: limit}, []time.Duration{0, 0, tc.skew}, tc.leader)
			s.clock.advance(730 * time.Millisecond)
			got := s.runSim(t, 4*time.Minute, 2, func(int, time.Duration) bool { return false })
			if most, at := got.maxInWindow(fsm.QuotaWindow); most > limit {
				t.Fatalf("%d admitted in the 60 s from %v", most, at)
			}
		})
	}
}

// BenchmarkWindowUtilization drives three nodes on a simulated clock with
// demand six times an rpm 300 limit for five minutes and reports the
// share of the limit admitted per minute once saturated (goal: at least
// 0.99) and the most admitted in any 60 s beyond the limit (goal: 0):
//
//	go test ./gateway/quota -run '^$' -bench WindowUtilization -benchtime 1x
func BenchmarkWindowUtilization(b *testing.B) {
	const limit = 300
	for _, skew := range []time.Duration{0, 2 * time.Second} {
		b.Run(fmt.Sprintf("skew%v", skew), func(b *testing.B) {
			var util, over float64
			for range b.N {
				s := newSim(b, fsm.Limits{RPM: limit}, []time.Duration{0, 0, skew}, 0)
				s.clock.advance(730 * time.Millisecond)
				start := s.clock.now()
				got := s.runSim(b, 5*time.Minute, 3, func(int, time.Duration) bool { return false })
				most, _ := got.maxInWindow(fsm.QuotaWindow)
				over += float64(max(0, most-limit))
				from := start.Add(time.Minute)
				util += float64(got.between(from, from.Add(4*time.Minute))) / (4 * limit)
			}
			b.ReportMetric(util/float64(b.N), "utilization")
			b.ReportMetric(over/float64(b.N), "over-admitted")
			b.ReportMetric(0, "ns/op")
		})
	}
}
