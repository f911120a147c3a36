package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/tensorgate/tensorgate/cluster/clustertest"
	"github.com/tensorgate/tensorgate/fsm"
)

// TestReadBarrierRefusesWhenCutOff: a node cut off from the majority
// cannot confirm its state is current, so its read barrier fails instead
// of letting the caller answer from a frozen state, whether it was a
// follower or the leader (which must not wait to notice it was deposed);
// once healed it catches up and passes.
func TestReadBarrierRefusesWhenCutOff(t *testing.T) {
	f := newFaults()
	tc := newTestCluster(t, 3, func(c *Config) {
		c.faults = f
		c.DeadServerTimeout = time.Hour
	})
	ctx := context.Background()
	for _, victimRole := range []string{"follower", "leader"} {
		victim := tc.follower()
		if victimRole == "leader" {
			victim = tc.leader()
		}
		id := victim.cfg.NodeID
		var rest []string
		for other := range tc.nodes {
			if other != id {
				rest = append(rest, other)
			}
		}
		f.partition([]string{id}, rest)
		if victimRole == "follower" {
			// A cut-off follower's barrier fails at once. (A leader just
			// cut off may still pass on its followers' last answers:
			// none of them can vote for another leader that soon.)
			bctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
			err := victim.node.Barrier(bctx)
			cancel()
			if !errors.Is(err, ErrNoQuorum) {
				t.Fatalf("%s cut off: barrier = %v, want ErrNoQuorum", victimRole, err)
			}
		}
		// The majority elects (or keeps) a leader and takes a write the
		// victim cannot see.
		var l *testNode
		tc.waitFor("a leader on the majority side", 10*time.Second, func() bool {
			l = tc.leader()
			return l != nil && l.cfg.NodeID != id
		})
		name := "written-while-" + victimRole + "-cut"
		if _, err := l.node.Apply(ctx, orgCmd("o-"+victimRole, name)); err != nil {
			t.Fatal(err)
		}
		bctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
		err := victim.node.Barrier(bctx)
		cancel()
		if !errors.Is(err, ErrNoQuorum) {
			t.Fatalf("%s cut off passed a barrier (org seen: %v)", victimRole, victim.fsm.View().Orgs["o-"+victimRole] != nil)
		}
		f.heal()
		bctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		err = victim.node.Barrier(bctx)
		cancel()
		if err != nil {
			t.Fatalf("%s healed: barrier = %v", victimRole, err)
		}
		if o := victim.fsm.View().Orgs["o-"+victimRole]; o == nil || o.Name != name {
			t.Fatalf("%s healed passed the barrier without the write made meanwhile", victimRole)
		}
	}
}

// TestLinearizableReadsUnderPartitions: writers and readers on every node
// over several registers while nodes are cut off and healed at random;
// reads that pass the barrier must form, with the writes, a linearizable
// history (checked by porcupine). A write whose outcome its caller did
// not learn may or may not have happened, and is kept open-ended.
func TestLinearizableReadsUnderPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	f := newFaults()
	tc := newTestCluster(t, 3, func(c *Config) {
		c.faults = f
		c.DeadServerTimeout = time.Hour
	})
	ids := []string{"n1", "n2", "n3"}
	regs := []string{"r0", "r1", "r2"}
	ctx := context.Background()
	for _, reg := range regs {
		if _, err := tc.leader().node.Apply(ctx, orgCmd(reg, reg+"-v0")); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		reads   int
	)
	t0 := time.Now()
	stamp := func() int64 { return int64(time.Since(t0)) }
	record := func(op porcupine.Operation) {
		mu.Lock()
		history = append(history, op)
		mu.Unlock()
	}
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			for i := 1; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				node := tc.nodes[ids[r.IntN(len(ids))]]
				reg := regs[r.IntN(len(regs))]
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				if w%2 == 0 { // writer
					val := fmt.Sprintf("w%d-%d", w, i)
					call := stamp()
					_, err := node.node.Apply(cctx, fsm.Command{Type: fsm.TypeOrgUpsert, Body: fsm.OrgUpsertBody{Org: fsm.Org{ID: reg, Name: reg + "-" + val}}})
					ret := stamp()
					if err != nil {
						ret = clustertest.Maybe // it may still take effect, any time later
					}
					record(porcupine.Operation{ClientId: w, Input: clustertest.RegisterOp{Reg: reg, Write: true, Value: reg + "-" + val}, Call: call, Return: ret})
				} else { // reader
					call := stamp()
					err := node.node.Barrier(cctx)
					if err == nil {
						name := "" // not there at all
						if o := node.fsm.View().Orgs[reg]; o != nil {
							name = o.Name
						}
						ret := stamp()
						record(porcupine.Operation{ClientId: w, Input: clustertest.RegisterOp{Reg: reg}, Output: name, Call: call, Return: ret})
						mu.Lock()
						reads++
						mu.Unlock()
					}
				}
				cancel()
			}
		}()
	}
	r := rand.New(rand.NewPCG(7, 7))
	for deadline := time.Now().Add(6 * time.Second); time.Now().Before(deadline); {
		victim := ids[r.IntN(len(ids))]
		var rest []string
		for _, id := range ids {
			if id != victim {
				rest = append(rest, id)
			}
		}
		f.partition([]string{victim}, rest)
		time.Sleep(time.Duration(300+r.IntN(500)) * time.Millisecond)
		f.heal()
		time.Sleep(time.Duration(200+r.IntN(300)) * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	// Fix the initial values as writes before everything.
	for i, reg := range regs {
		history = append(history, porcupine.Operation{ClientId: 100 + i, Input: clustertest.RegisterOp{Reg: reg, Write: true, Value: reg + "-v0"}, Call: -2, Return: -1})
	}
	if res, path, err := clustertest.CheckLinearizable(history, time.Minute); res != porcupine.Ok || err != nil {
		t.Fatalf("history of %d operations (%d reads) is %v (%v); see %s", len(history), reads, res, err, path)
	}
	if reads < 50 {
		t.Fatalf("only %d reads passed the barrier: the test proves little", reads)
	}
	t.Logf("%d operations, %d reads passed the barrier: linearizable", len(history), reads)
}

// TestPauseIsNoticed: a gap in the ticks (the process was stopped) makes
// the leader distrust VerifyLeader for a while.
func TestPauseIsNoticed(t *testing.T) {
	var p pauseWatch
	t0 := time.Unix(1000, 0)
	for i := range 10 {
		p.tick(t0.Add(time.Duration(i) * pauseTick))
	}
	now := t0.Add(9 * pauseTick)
	if p.suspect(now.Add(time.Millisecond)) {
		t.Fatal("steady ticks: suspected a pause")
	}
	// Resumed after 10s, asked before the ticker ran again.
	resumed := now.Add(10 * time.Second)
	if !p.suspect(resumed) {
		t.Fatal("asked right after a pause, before a tick: not suspected")
	}
	// The ticker ran first: still suspect for pauseDistrust.
	p.tick(resumed)
	if !p.suspect(resumed.Add(pauseTick)) || !p.suspect(resumed.Add(pauseDistrust-time.Millisecond)) {
		t.Fatal("within the distrust period after a pause: not suspected")
	}
	for d := time.Duration(0); d <= pauseDistrust+pauseTick; d += pauseTick {
		p.tick(resumed.Add(d))
	}
	if p.suspect(resumed.Add(pauseDistrust + pauseTick + time.Millisecond)) {
		t.Fatal("long after a pause: still suspected")
	}
}

// TestMembersAskRaftWhenGossipSaysDead: after a partition gossip can hold
// a live, replicating member for dead; the member list asks it directly
// and shows it alive with its applied index.
func TestMembersAskRaftWhenGossipSaysDead(t *testing.T) {
	tc := newTestCluster(t, 3)
	l := tc.leader()
	var other string
	for id := range tc.nodes {
		if id != l.cfg.NodeID {
			other = id
		}
	}
	if _, err := l.node.Apply(context.Background(), orgCmd("o1", "one")); err != nil {
		t.Fatal(err)
	}
	tc.waitFor("gossip to show every member and every member to apply the write", 10*time.Second, func() bool {
		for _, n := range tc.nodes {
			if n.fsm.View().Orgs["o1"] == nil {
				return false
			}
		}
		return len(l.node.disc.members()) == 3
	})
	l.node.disc.liveMu.Lock()
	delete(l.node.disc.live, other) // as if gossip held it dead
	l.node.disc.liveMu.Unlock()
	members, err := l.node.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if !m.Alive || m.AppliedIndex == 0 {
			t.Fatalf("member %s: alive=%v applied=%d, want alive with its index", m.ID, m.Alive, m.AppliedIndex)
		}
	}
}

// BenchmarkLinearizableRead is the cost of the read barrier an admin read
// pays, on the leader (a quorum round of heartbeats) and on a follower
// (one RPC to the leader, which does the same), three nodes on loopback.
// It reports p50 and p99 besides the mean.
func BenchmarkLinearizableRead(b *testing.B) {
	tc := newTestCluster(b, 3)
	if _, err := tc.leader().node.Apply(context.Background(), orgCmd("o1", "one")); err != nil {
		b.Fatal(err)
	}
	for _, role := range []string{"leader", "follower"} {
		b.Run(role, func(b *testing.B) {
			n := tc.leader()
			if role == "follower" {
				n = tc.follower()
			}
			lat := make([]time.Duration, 0, b.N)
			ctx := context.Background()
			for b.Loop() {
				start := time.Now()
				if err := n.node.Barrier(ctx); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
		})
	}
}

// TestLastContactOfADeposedLeader: the data plane bounds how long a
// cut-off node serves by LastContact. A leader is in contact with itself;
// once cut off and deposed, its last contact is when it last led, not
// when it last heard from another leader before it was elected.
func TestLastContactOfADeposedLeader(t *testing.T) {
	f := newFaults()
	tc := newTestCluster(t, 3, func(c *Config) { c.faults = f; c.DeadServerTimeout = time.Hour })
	l := tc.leader()
	if got := l.node.LastContact(); got != 0 {
		t.Fatalf("the leader's last contact: %v, want 0", got)
	}
	time.Sleep(2 * time.Second) // leads a while: an old contact would now be stale
	var rest []string
	for id := range tc.nodes {
		if id != l.cfg.NodeID {
			rest = append(rest, id)
		}
	}
	f.partition([]string{l.cfg.NodeID}, rest)
	defer f.heal()
	clustertest.WaitFor(t, "the cut-off leader to step down", 10*time.Second, func() bool { return !l.node.IsLeader() })
	if got := l.node.LastContact(); got > time.Second {
		t.Fatalf("just deposed, its last contact is %v ago: it would refuse traffic as if cut off long before", got)
	}
	for _, n := range tc.nodes {
		if n != l && !n.node.IsLeader() {
			if got := n.node.LastContact(); got > 2*time.Second {
				t.Fatalf("follower %s in the majority: last contact %v ago", n.cfg.NodeID, got)
			}
		}
	}
}
