package quota

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// memRecord is a node's durable spend record kept in memory: it outlives
// the Manager the way the outbox outlives the process.
type memRecord struct {
	mu      sync.Mutex
	id      string
	first   uint64 // the oldest entry kept (trimming moves it)
	entries [][]Spend
}

func (r *memRecord) Mark() fsm.RecordMark {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fsm.RecordMark{ID: r.id, Seq: r.first + uint64(len(r.entries))}
}

func (r *memRecord) Spent(from uint64) (map[LeaseRef]int64, uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[LeaseRef]int64{}
	for i, e := range r.entries {
		if r.first+uint64(i) < from {
			continue
		}
		for _, sp := range e {
			out[LeaseRef{sp.Key, sp.Lease}] += sp.Units
		}
	}
	return out, max(from, r.first), nil
}

func (r *memRecord) add(s []Spend) {
	r.mu.Lock()
	r.entries = append(r.entries, s)
	r.mu.Unlock()
}

// TestBudgetSurvivesACrash: a node spends part of a budget lease and is
// killed, its memory lost. When it starts again (a new Manager over the
// same record and the same replicated state) it settles the lease from
// its record: the budget's used amount is what requests really cost,
// refunded once however often it restarts. A node whose record is gone
// (or whose outbox trimmed the lease's events) leaves the write-off
// counted as spent.
func TestBudgetSurvivesACrash(t *testing.T) {
	const price = 1000
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindBudget)
	for _, tc := range []struct {
		name string
		down time.Duration // how long the node stays down
		lost bool          // its data dir is lost
		trim bool          // its outbox trimmed the lease's events
	}{
		{"written-off", 11 * time.Second, false, false},
		{"still-held", time.Second, false, false},
		{"data-lost", 11 * time.Second, true, false},
		{"trimmed", 11 * time.Second, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, fsm.Limits{Budget: 100 * price, BudgetPeriod: fsm.PeriodTotal}, []time.Duration{0}, 0)
			ctx := context.Background()
			rec := &memRecord{id: "outbox-a", first: 1}
			start := func(rec *memRecord) *Manager {
				m := New(Config{Node: "a", TTL: 10 * time.Second, Now: s.clock.now, State: s.b, Record: rec}, s.raft)
				kctx, stop := context.WithCancel(ctx)
				t.Cleanup(stop)
				go func() { // syncs for waiting requests, as Run would
					for {
						select {
						case <-kctx.Done():
							return
						case <-m.kick:
							m.SyncOnce(kctx)
						}
					}
				}()
				return m
			}
			status := func() fsm.QuotaStatus {
				for _, st := range s.b.View().QuotaStatuses(s.clock.now(), nil) {
					if st.Key == key {
						return st
					}
				}
				return fsm.QuotaStatus{}
			}
			var billed int64
			spend := func(m *Manager, n int) {
				t.Helper()
				for range n {
					tk, err := m.Admit(ctx, Request{Key: s.key, Cost: 2 * price}) // reserves twice what it costs
					if err != nil {
						t.Fatal(err)
					}
					rec.add(tk.Settle(0, price))
					billed += price
				}
			}
			a := start(rec)
			spend(a, 5)
			a.SyncOnce(ctx)
			spend(a, 3) // unreported when a is killed
			held := status().Leased
			if held == 0 {
				t.Fatal("a holds no lease")
			}
			s.clock.advance(tc.down)
			if st := status(); tc.down > 10*time.Second && (st.WrittenOff != held || st.Used != 5*price+held) {
				t.Fatalf("after a's lease ran out: %+v (held %d)", st, held)
			}
			if tc.lost {
				rec = &memRecord{id: "outbox-a2", first: 1}
			}
			if tc.trim {
				rec.first, rec.entries = rec.first+uint64(len(rec.entries)), nil
			}
			for range 2 { // back, and killed again before it spent anything
				a = start(rec)
				a.SyncOnce(ctx)
				st := status()
				switch {
				case tc.lost || tc.trim:
					if st.Used != 5*price+held || st.WrittenOff != held || st.Refunded != 0 {
						t.Fatalf("with its record lost: %+v (held %d)", st, held)
					}
				case st.Used != billed || st.WrittenOff != 0 || st.Leased != 0:
					t.Fatalf("after a came back: %+v, billed %d (held %d)", st, billed, held)
				}
			}
			// Back to normal: a spends and reports again.
			spend(a, 2)
			a.SyncOnce(ctx)
			if st := status(); !tc.lost && !tc.trim && st.Used != billed {
				t.Fatalf("after more requests: used %d, billed %d", st.Used, billed)
			}
		})
	}
}

// TestNoRecountInAnOlderCluster: while some server applies syncs as
// builds before lease ids do (log version 0), a lease that ran out while
// its node was down stays counted whole, as it did before, on every
// server alike: the node sends no recount (an older server would read
// one as a fresh report) and the log applies syncs by the older rules.
func TestNoRecountInAnOlderCluster(t *testing.T) {
	const price = 1000
	clock := &simClock{}
	clock.ns.Store(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC).UnixNano())
	b := fsmtest.NewAt(t, 0)
	b.Now = clock.now
	b.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: "k1", OrgID: "org1", Name: "k",
		Prefix: "gk_x", Hash: "0000000000000000000000000000000000000000000000000000000000000001", Scopes: fsm.Capabilities,
		Limits: fsm.Limits{Budget: 100 * price, BudgetPeriod: fsm.PeriodTotal}}})
	raft := &leaderRaft{b: b, leader: clock.now}
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindBudget)
	status := func() fsm.QuotaStatus {
		for _, st := range b.View().QuotaStatuses(clock.now(), nil) {
			if st.Key == key {
				return st
			}
		}
		return fsm.QuotaStatus{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := &memRecord{id: "outbox-a", first: 1}
	start := func() *Manager {
		m := New(Config{Node: "a", TTL: 10 * time.Second, Now: clock.now, State: b, Record: rec}, raft)
		go func() { // syncs for waiting requests, as Run would
			for {
				select {
				case <-ctx.Done():
					return
				case <-m.kick:
					m.SyncOnce(ctx)
				}
			}
		}()
		return m
	}
	a := start()
	for i := range 8 {
		if i == 5 {
			a.SyncOnce(ctx)
		}
		tk, err := a.Admit(ctx, Request{Key: b.View().Key("k1"), Cost: 2 * price})
		if err != nil {
			t.Fatal(err)
		}
		rec.add(tk.Settle(0, price))
	}
	held := status().Leased
	clock.advance(11 * time.Second)
	a = start()
	a.SyncOnce(ctx)
	if st := status(); st.Refunded != 0 || st.WrittenOff != 0 || st.Used != 5*price+held {
		t.Fatalf("after a restart in an older cluster: %+v (held %d): a recount was counted as a report", st, held)
	}
}
