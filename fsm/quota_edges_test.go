package fsm_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// syncItem runs one node's sync of one item and returns the grant.
func (e *quotaEnv) syncItem(node string, it fsm.QuotaSyncItem) fsm.QuotaGrant {
	e.t.Helper()
	grants := fsmtest.ApplyAs[fsm.QuotaGrants](e.b, fsm.TypeQuotaSync, fsm.QuotaSyncBody{Node: node, TTL: 10 * time.Second, Items: []fsm.QuotaSyncItem{it}})
	return (*grants)[0]
}

// TestWindowEdgesAreExact: units reported late in a second count until
// a full window after their report, not after the second began, so a
// 60 s window starting mid-second never holds more than the limit.
func TestWindowEdgesAreExact(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 10, 0, time.UTC)
	e := newQuotaEnv(t, fsm.Limits{RPM: 10}, start)
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindRPM)
	e.at(900*time.Millisecond, start)
	if g := e.sync("a", key, 0, 0, 10); g.Granted != 10 {
		t.Fatalf("grant: %+v", g)
	}
	// All ten admitted at 10.9 s, reported at 10.95 s.
	e.at(950*time.Millisecond, start)
	if g := e.sync("a", key, 10, 0, 0); !g.FreesAt.Equal(start.Add(60*time.Second + 950*time.Millisecond)) {
		t.Fatalf("frees at %v", g.FreesAt)
	}
	// The window [10.9 s, 70.9 s) holds those ten: nothing may be granted
	// before 70.95 s, although second 10 began 60 s before 70 s.
	for _, d := range []time.Duration{60 * time.Second, 60*time.Second + 949*time.Millisecond} {
		e.at(d, start)
		if g := e.sync("b", key, 0, 0, 10); g.Granted != 0 {
			t.Fatalf("at +%v, granted %+v while the window still holds ten", d, g)
		}
	}
	e.at(60*time.Second+950*time.Millisecond, start)
	if g := e.sync("b", key, 0, 0, 10); g.Granted != 10 {
		t.Fatalf("once the ten left: %+v", g)
	}
}

// TestWriteOffIsRefundedOnReturn: a node's lease that ran out counts as
// spent (rule 2); when the node comes back with what it really spent of
// that lease, the rest is refunded, once, and only for that lease.
func TestWriteOffIsRefundedOnReturn(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	e := newQuotaEnv(t, fsm.Limits{Budget: 1000, BudgetPeriod: fsm.PeriodTotal}, start)
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindBudget)
	g := e.sync("a", key, 0, 0, 600)
	lease := g.Lease
	if g.Granted != 600 || lease == 0 || !g.At.Equal(e.now) || g.Expires.Sub(g.At) != 10*time.Second {
		t.Fatalf("grant %+v", g)
	}
	if g := e.syncItem("a", fsm.QuotaSyncItem{Key: key, Spent: 100, Lease: lease}); g.Held != 500 || g.Lease != lease {
		t.Fatalf("report %+v", g)
	}
	// a is paused past its lease: its 500 count as spent.
	e.at(11*time.Second, start)
	if g := e.sync("b", key, 0, 0, 1000); g.Granted != 400 {
		t.Fatalf("after the write-off: %+v", g)
	}
	status := func() fsm.QuotaStatus {
		for _, st := range e.b.View().QuotaStatuses(e.now, nil) {
			if st.Key == key {
				return st
			}
		}
		t.Fatal("no status")
		return fsm.QuotaStatus{}
	}
	if st := status(); st.Used != 600 || st.WrittenOff != 500 || st.Refunded != 0 {
		t.Fatalf("written off: %+v", st)
	}
	// Someone else's report for that lease id changes nothing.
	e.syncItem("b", fsm.QuotaSyncItem{Key: key, Return: 500, Lease: lease})
	if st := status(); st.WrittenOff != 500 || st.Used != 600 {
		t.Fatalf("another node refunded a's lease: %+v", st)
	}
	// a comes back: it spent 50 more of that lease and hands back 450.
	e.at(12*time.Second, start)
	g = e.syncItem("a", fsm.QuotaSyncItem{Key: key, Spent: 50, Return: 450, Lease: lease, Want: 100})
	if g.Granted != 100 || g.Lease == lease || g.Lease == 0 {
		t.Fatalf("return: %+v", g)
	}
	if st := status(); st.Used != 150 || st.WrittenOff != 0 || st.Refunded != 450 || st.Leased != 500 {
		t.Fatalf("refunded: %+v", st)
	}
	// The same report again (a retry under a new id) refunds nothing;
	// what it says was spent counts, to be safe.
	e.syncItem("a", fsm.QuotaSyncItem{Key: key, Spent: 50, Return: 450, Lease: lease})
	if st := status(); st.Used != 200 || st.Refunded != 450 {
		t.Fatalf("refunded twice: %+v", st)
	}
}

// TestWriteOffRefundInTheWindow: for a rate limit the refund comes out of
// the bucket the write-off went to, while it is in the window.
func TestWriteOffRefundInTheWindow(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	e := newQuotaEnv(t, fsm.Limits{RPM: 100}, start)
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindRPM)
	lease := e.sync("a", key, 0, 0, 100).Lease
	e.at(11*time.Second, start)
	if g := e.sync("b", key, 0, 0, 100); g.Granted != 0 {
		t.Fatalf("a's written-off lease granted again: %+v", g)
	}
	// a had admitted 30 before it stopped.
	e.syncItem("a", fsm.QuotaSyncItem{Key: key, Spent: 30, Return: 70, Lease: lease})
	if g := e.sync("b", key, 0, 0, 100); g.Granted != 70 {
		t.Fatalf("after the refund: %+v", g)
	}
	// The 30 that stay leave the window a minute after a's lease ran out
	// (b's 70 are written off at 21 s by now).
	e.at(69*time.Second+999*time.Millisecond, start)
	if g := e.sync("c", key, 0, 0, 100); g.Granted != 0 {
		t.Fatalf("30 still in the window: %+v", g)
	}
	e.at(70*time.Second, start)
	if g := e.sync("c", key, 0, 0, 100); g.Granted != 30 {
		t.Fatalf("after the window: %+v", g)
	}
}

// TestBucketWithoutLastLeavesLate: a bucket from a snapshot written before
// buckets knew their last report counts until its whole second has left.
func TestBucketWithoutLastLeavesLate(t *testing.T) {
	spec := fsm.LimitSpec{Kind: fsm.KindRPM, Limit: 1, LogVersion: fsm.LogVersionQuotaLeases}
	if got, want := (fsm.QuotaBucket{Sec: 10, Units: 1}).Leaves(spec), time.Unix(71, 0); !got.Equal(want) {
		t.Fatalf("leaves at %v, want %v", got, want)
	}
}

// TestStampLeaderTime: a quota sync takes the leader's time; other
// commands keep their proposer's.
func TestStampLeaderTime(t *testing.T) {
	proposed, leader := time.Date(2026, 11, 25, 10, 0, 2, 0, time.UTC), time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for typ, want := range map[fsm.MessageType]time.Time{fsm.TypeQuotaSync: leader, fsm.TypeOrgUpsert: proposed} {
		data, err := fsm.Command{Type: typ, ID: "c1", Time: proposed, Body: fsm.QuotaSyncBody{Node: "a", TTL: time.Second}}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if data, err = fsm.StampLeaderTime(data, leader); err != nil {
			t.Fatal(err)
		}
		f := fsm.New()
		f.ApplyCommand(1, fsm.Command{Type: fsm.TypeBootstrap, Body: fsm.BootstrapBody{Meta: fsm.Meta{ClusterID: "c"}, Org: fsm.Org{ID: "o", Name: "o"}}})
		if typ == fsm.TypeQuotaSync {
			if err, ok := f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: data}).(error); ok {
				t.Fatal(err)
			}
			if got := f.View().QuotaClock; !got.Equal(want) {
				t.Fatalf("quota clock %v, want %v", got, want)
			}
		} else if !bytes.Contains(data, []byte(proposed.Format(time.RFC3339))) {
			t.Fatalf("type %d lost its time: %s", typ, data)
		}
	}
}

// TestRecountAfterRestart: a node that lost its memory (a crash, a
// restart) settles its leases with what its durable record shows spent
// of each over its life. What it had already reported is not counted
// twice; the rest of a write-off is refunded once, however often the
// recount comes; a lease it still held ends, its unspent units free.
func TestRecountAfterRestart(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	e := newQuotaEnv(t, fsm.Limits{Budget: 1000, BudgetPeriod: fsm.PeriodTotal}, start)
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindBudget)
	mark := &fsm.RecordMark{ID: "ob1", Seq: 7}
	grant := func(node string, want int64) fsm.QuotaGrant {
		t.Helper()
		grants := fsmtest.ApplyAs[fsm.QuotaGrants](e.b, fsm.TypeQuotaSync, fsm.QuotaSyncBody{Node: node, TTL: 10 * time.Second, Mark: mark,
			Items: []fsm.QuotaSyncItem{{Key: key, Want: want}}})
		return (*grants)[0]
	}
	status := func() fsm.QuotaStatus {
		t.Helper()
		for _, st := range e.b.View().QuotaStatuses(e.now, nil) {
			if st.Key == key {
				return st
			}
		}
		t.Fatal("no status")
		return fsm.QuotaStatus{}
	}
	lease := grant("a", 600).Lease
	// a reports 100 of it, then spends 50 more and is killed.
	e.syncItem("a", fsm.QuotaSyncItem{Key: key, Spent: 100, Lease: lease})
	e.at(11*time.Second, start)
	grant("b", 0) // a's lease runs out: its 500 count as spent
	held := e.b.View().LeasesOf("a", e.now)
	if len(held) != 1 || !held[0].WrittenOff || held[0].Lease.ID != lease || held[0].Lease.Reported != 100 ||
		held[0].Lease.Units != 500 || *held[0].Lease.Mark != *mark {
		t.Fatalf("a's leases: %+v", held)
	}
	if st := status(); st.Used != 600 || st.WrittenOff != 500 {
		t.Fatalf("written off: %+v", st)
	}
	// a is back: its record shows 150 spent of the lease over its life.
	for range 2 {
		e.syncItem("a", fsm.QuotaSyncItem{Key: key, Spent: 150, Lease: lease, Recount: true})
		if st := status(); st.Used != 150 || st.WrittenOff != 0 || st.Refunded != 450 {
			t.Fatalf("after the recount: %+v", st)
		}
	}
	// A lease still held when the node restarted ends with its recount.
	lease = grant("a", 200).Lease
	e.syncItem("a", fsm.QuotaSyncItem{Key: key, Spent: 20, Lease: lease})
	e.syncItem("a", fsm.QuotaSyncItem{Key: key, Spent: 30, Lease: lease, Recount: true})
	if st := status(); st.Used != 180 || st.Leased != 0 || st.WrittenOff != 0 {
		t.Fatalf("after the recount of a held lease: %+v", st)
	}
	if held := e.b.View().LeasesOf("a", e.now); len(held) != 0 {
		t.Fatalf("a still holds %+v", held)
	}
}
