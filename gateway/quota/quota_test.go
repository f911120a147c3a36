package quota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// fakeRaft applies commands to one FSM in order, as raft would for every
// node of a cluster; down makes it fail like a lost quorum.
type fakeRaft struct {
	b     *fsmtest.Builder
	down  atomic.Bool
	calls atomic.Int64
}

func (f *fakeRaft) Apply(ctx context.Context, c fsm.Command) (any, error) {
	if f.down.Load() {
		return nil, errors.New("no quorum")
	}
	f.calls.Add(1)
	return f.b.Commit(ctx, c)
}

type cluster struct {
	raft  *fakeRaft
	nodes []*Manager
	stop  []context.CancelFunc // per node: its death
	key   *fsm.Key
}

func newCluster(t *testing.T, n int, l fsm.Limits) *cluster {
	return newClusterCfg(t, n, l, Config{Interval: 20 * time.Millisecond, TTL: time.Second})
}

// jumpClock runs with the wall clock (the managers' sync loops and waits
// are real timers) but can jump ahead, so a test passes a lease's life
// without sleeping through it.
type jumpClock struct{ ahead atomic.Int64 }

func (c *jumpClock) now() time.Time { return time.Now().Add(time.Duration(c.ahead.Load())) }

func (c *jumpClock) jump(d time.Duration) { c.ahead.Add(int64(d)) }

// newJumpCluster is newCluster on a clock the test can move forward.
func newJumpCluster(t *testing.T, n int, l fsm.Limits) (*cluster, *jumpClock) {
	clock := &jumpClock{}
	return newClusterCfg(t, n, l, Config{Interval: 20 * time.Millisecond, TTL: time.Second, Now: clock.now}), clock
}

// newClusterCfg starts n managers with cfg (Node set per manager) over
// one replicated state holding key k1 with limits l.
func newClusterCfg(t testing.TB, n int, l fsm.Limits, cfg Config) *cluster {
	b := fsmtest.New(t)
	b.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: "k1", OrgID: "org1", Name: "k",
		Prefix: "gk_x", Hash: "0000000000000000000000000000000000000000000000000000000000000001", Scopes: fsm.Capabilities, Limits: l}})
	c := &cluster{raft: &fakeRaft{b: b}, key: b.View().Key("k1")}
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		cfg.Node = fmt.Sprintf("n%d", i)
		m := New(cfg, c.raft)
		go m.Run(ctx)
		c.nodes = append(c.nodes, m)
		c.stop = append(c.stop, cancel)
	}
	return c
}

// burst sends n concurrent requests round-robin over the nodes and counts
// the admitted ones; hold keeps each admitted request open that long.
func (c *cluster) burst(n int, r Request, hold time.Duration, settle func(*Ticket)) (admitted int64, errs []error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok atomic.Int64
	for i := range n {
		wg.Add(1)
		go func(m *Manager) {
			defer wg.Done()
			t, err := m.Admit(context.Background(), r)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			ok.Add(1)
			time.Sleep(hold)
			settle(&t)
		}(c.nodes[i%len(c.nodes)])
	}
	wg.Wait()
	return ok.Load(), errs
}

func TestRPMIsExactAcrossNodes(t *testing.T) {
	c := newCluster(t, 3, fsm.Limits{RPM: 200})
	n, errs := c.burst(600, Request{Key: c.key}, 0, func(t *Ticket) { t.Settle(0, 0) })
	if n < 198 || n > 200 {
		t.Fatalf("admitted %d of 600 against rpm 200", n)
	}
	var qe *Error
	if len(errs) == 0 || !errors.As(errs[0], &qe) || qe.Kind != fsm.KindRPM || qe.RetryAfter <= 0 || qe.RetryAfter > fsm.QuotaWindow+time.Second {
		t.Fatalf("refusal %v", errs[:1])
	}
	t.Logf("admitted %d, %d sync commands", n, c.raft.calls.Load())
}

func TestBudgetNeverOverspends(t *testing.T) {
	const price = 1000 // micro-units per call
	c := newCluster(t, 3, fsm.Limits{Budget: 10 * price, BudgetPeriod: fsm.PeriodMonthly})
	n, _ := c.burst(100, Request{Key: c.key, Cost: price}, 0, func(t *Ticket) { t.Settle(0, price) })
	if n != 10 {
		t.Fatalf("admitted %d calls on a budget of 10", n)
	}
	// Everything reported, the spend is exactly the budget.
	for _, m := range c.nodes {
		m.SyncOnce(context.Background())
	}
	q := c.raft.b.View().Quota(fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindBudget))
	if q == nil || q.Spent > 10*price || 10*price-q.Spent >= price {
		t.Fatalf("spent %+v", q)
	}
}

func TestConcurrencyAcrossNodes(t *testing.T) {
	c := newCluster(t, 3, fsm.Limits{Concurrency: 5})
	var inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	var admitted atomic.Int64
	for i := range 90 {
		wg.Add(1)
		go func(m *Manager) {
			defer wg.Done()
			for try := 0; try < 50; try++ {
				tk, err := m.Admit(context.Background(), Request{Key: c.key})
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				v := inFlight.Add(1)
				for p := peak.Load(); v > p && !peak.CompareAndSwap(p, v); p = peak.Load() {
				}
				admitted.Add(1)
				time.Sleep(5 * time.Millisecond)
				inFlight.Add(-1)
				tk.Settle(0, 0)
				return
			}
		}(c.nodes[i%3])
	}
	wg.Wait()
	if peak.Load() > 5 || admitted.Load() < 30 {
		t.Fatalf("peak %d in flight (limit 5), %d admitted", peak.Load(), admitted.Load())
	}

	// A node dies holding every slot: they come back once its lease runs
	// out (TTL 1s), not before.
	d, clock := newJumpCluster(t, 2, fsm.Limits{Concurrency: 5})
	for range 5 {
		if _, err := d.nodes[0].Admit(context.Background(), Request{Key: d.key}); err != nil {
			t.Fatal(err)
		}
	}
	d.stop[0]()
	waitSyncDone(d.nodes[0]) // a sync in flight ends; none follows
	if _, err := d.nodes[1].Admit(context.Background(), Request{Key: d.key}); err == nil {
		t.Fatal("a slot held by a live lease was granted twice")
	}
	clock.jump(500 * time.Millisecond)
	if _, err := d.nodes[1].Admit(context.Background(), Request{Key: d.key}); err == nil {
		t.Fatal("a slot came back half way through the dead node's lease")
	}
	clock.jump(time.Second)
	retry(t, 5*time.Second, func() error {
		tk, err := d.nodes[1].Admit(context.Background(), Request{Key: d.key})
		if err == nil {
			tk.Settle(0, 0)
		}
		return err
	})
}

// retry calls f until it returns nil, failing the test with f's last
// error after timeout.
func retry(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPartitionPolicy(t *testing.T) {
	c, clock := newJumpCluster(t, 1, fsm.Limits{RPM: 1000})
	m := c.nodes[0]
	if _, err := m.Admit(context.Background(), Request{Key: c.key}); err != nil {
		t.Fatal(err)
	}
	c.raft.down.Store(true)
	clock.jump(1200 * time.Millisecond) // longer than the lease TTL
	// fail_closed (default): spends what it holds, then refuses.
	var err error
	for i := 0; i < 2000 && err == nil; i++ {
		var tk Ticket
		tk, err = m.Admit(context.Background(), Request{Key: c.key})
		tk.Settle(0, 0)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("cut off, fail_closed: %v", err)
	}
	// fail_open admits for the bounded time.
	open := &fsm.Policy{Partition: fsm.PartitionFailOpen, FailOpenSeconds: 60}
	if _, err := m.Admit(context.Background(), Request{Key: c.key, Policy: open}); err != nil {
		t.Fatalf("fail_open: %v", err)
	}
}

// BenchmarkAdmit is the quota check on the hot path, parallel, with a key
// and an org limit whose balances are in hand (goal: under 1 µs, no
// allocations):
//
//	go test ./gateway/quota -run '^$' -bench Admit -benchmem
func BenchmarkAdmit(b *testing.B) {
	fb := fsmtest.New(b)
	fb.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: "k1", OrgID: "org1", Name: "k",
		Prefix: "gk_x", Hash: "0000000000000000000000000000000000000000000000000000000000000001", Scopes: fsm.Capabilities,
		Limits: fsm.Limits{RPM: 1 << 40, TPM: 1 << 40, Concurrency: 1 << 20}}})
	r := &fakeRaft{b: fb}
	m := New(Config{Node: "n0", Horizon: time.Hour}, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	req := Request{Key: fb.View().Key("k1"), Tokens: 100}
	for range 3 { // warm the balances up
		tk, err := m.Admit(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		tk.Settle(100, 0)
		m.SyncOnce(ctx)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk, err := m.Admit(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			tk.Settle(90, 0)
		}
	})
}

// slowRaft commits like fakeRaft, a few milliseconds later, so requests
// arrive while a sync is in flight.
type slowRaft struct{ *fakeRaft }

func (s slowRaft) Apply(ctx context.Context, c fsm.Command) (any, error) {
	time.Sleep(3 * time.Millisecond)
	return s.fakeRaft.Apply(ctx, c)
}

// TestWaitersKeepAskingUntilServed: requests that wait for a grant and
// lose it to another request are still asked for by the next sync (seen
// as a refusal with capacity left: three requests, concurrency 3, the
// third refused).
func TestWaitersKeepAskingUntilServed(t *testing.T) {
	for round := range 20 {
		c := newCluster(t, 0, fsm.Limits{Concurrency: 3})
		ctx, cancel := context.WithCancel(context.Background())
		m := New(Config{Node: "n", TTL: 2 * time.Second}, slowRaft{c.raft})
		go m.Run(ctx)
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i) * time.Millisecond)
				if _, err := m.Admit(context.Background(), Request{Key: c.key}); err != nil {
					t.Errorf("round %d, request %d: %v", round, i, err)
				}
			}()
		}
		wg.Wait()
		cancel()
	}
}

// BenchmarkSteadyLoadCommands drives three nodes at a steady rate each,
// on a key with RPM and TPM limits far above the load, and reports the
// raft commands the quota syncs cost per 1,000 admitted requests, after
// a warm-up second. Run with -benchtime 1x: each run lasts 4 seconds.
func BenchmarkSteadyLoadCommands(b *testing.B) {
	for _, perNode := range []int{100, 1000} {
		b.Run(fmt.Sprintf("%drps-per-node", perNode), func(b *testing.B) {
			var cmds, reqs int64
			for range b.N {
				c := newClusterCfg(b, 3, fsm.Limits{RPM: 1 << 40, TPM: 1 << 40}, Config{})
				var admitted atomic.Int64
				var wg sync.WaitGroup
				stop := make(chan struct{})
				for _, m := range c.nodes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						tick := time.NewTicker(time.Second / time.Duration(perNode))
						defer tick.Stop()
						for {
							select {
							case <-stop:
								return
							case <-tick.C:
							}
							tk, err := m.Admit(context.Background(), Request{Key: c.key, Tokens: 500})
							if err != nil {
								b.Error(err)
								return
							}
							admitted.Add(1)
							tk.Settle(400, 0)
						}
					}()
				}
				time.Sleep(time.Second)
				c0, r0 := c.raft.calls.Load(), admitted.Load()
				time.Sleep(3 * time.Second)
				cmds += c.raft.calls.Load() - c0
				reqs += admitted.Load() - r0
				close(stop)
				wg.Wait()
				for _, s := range c.stop {
					s()
				}
			}
			b.ReportMetric(float64(cmds)*1000/float64(reqs), "commands/1000req")
			b.ReportMetric(float64(reqs)/float64(b.N)/3, "req/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// waitSyncDone returns once a sync m has in flight, if any, has ended.
func waitSyncDone(m *Manager) {
	m.running.Lock()
	defer m.running.Unlock()
}
