package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/cluster/clustertest"
	"github.com/tensorgate/tensorgate/fsm"
)

// testCluster runs nodes in-process on loopback, each with its own raft
// address, gossip address and data dir.
type testCluster struct {
	t     testing.TB
	nodes map[string]*testNode
}

type testNode struct {
	cfg  Config
	node *Node
	fsm  *fsm.FSM
}

const testSecret = "in-process-cluster-secret"

func clusterConfig(t testing.TB, id string) Config {
	c := testConfig(t, t.TempDir())
	c.NodeID = id
	c.GossipAddr = freeAddr(t)
	c.ClusterSecret = testSecret
	c.ReconcileInterval = 100 * time.Millisecond
	c.Stabilization = 300 * time.Millisecond
	c.DeadServerTimeout = 2 * time.Second
	c.ForwardHold = 5 * time.Second
	c.tuneGossip = func(mc *memberlist.Config) {
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		mc.GossipInterval = 50 * time.Millisecond
		mc.SuspicionMult = 2
		mc.PushPullInterval = time.Second
	}
	return c
}

// newTestCluster starts size nodes that bootstrap together, each config
// adjusted by tune, and waits for them all to be voters.
func newTestCluster(t testing.TB, size int, tune ...func(*Config)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, nodes: map[string]*testNode{}}
	var cfgs []Config
	for i := 1; i <= size; i++ {
		c := clusterConfig(t, fmt.Sprintf("n%d", i))
		c.BootstrapExpect = size
		for _, f := range tune {
			f(&c)
		}
		cfgs = append(cfgs, c)
	}
	for i := range cfgs {
		for j := range cfgs {
			if i != j {
				cfgs[i].Join = append(cfgs[i].Join, cfgs[j].GossipAddr)
			}
		}
		tc.start(cfgs[i])
	}
	tc.waitFor("a leader and every node a voter", 15*time.Second, func() bool {
		l := tc.leader()
		return l != nil && tc.voters(l) == size
	})
	return tc
}

func (tc *testCluster) start(cfg Config) *testNode {
	tc.t.Helper()
	cfg.Registry = prometheus.NewRegistry()
	f := fsm.New()
	n, err := New(cfg, f)
	if err != nil {
		tc.t.Fatalf("start %s: %v", cfg.NodeID, err)
	}
	tn := &testNode{cfg: cfg, node: n, fsm: f}
	tc.nodes[cfg.NodeID] = tn
	tc.t.Cleanup(func() { _ = n.Shutdown() })
	return tn
}

func (tc *testCluster) kill(id string) {
	tc.t.Helper()
	if err := tc.nodes[id].node.Shutdown(); err != nil {
		tc.t.Logf("shutdown %s: %v", id, err)
	}
}

func (tc *testCluster) restart(id string) *testNode {
	tc.t.Helper()
	cfg := tc.nodes[id].cfg
	return tc.start(cfg)
}

func (tc *testCluster) leader() *testNode {
	for _, n := range tc.nodes {
		if !n.node.removed.Load() && n.node.raft.State() == raft.Leader {
			return n
		}
	}
	return nil
}

func (tc *testCluster) voters(n *testNode) int {
	fut := n.node.raft.GetConfiguration()
	if fut.Error() != nil {
		return 0
	}
	v := 0
	for _, s := range fut.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			v++
		}
	}
	return v
}

func (tc *testCluster) follower() *testNode {
	for _, n := range tc.nodes {
		if n.node.raft.State() == raft.Follower {
			return n
		}
	}
	return nil
}

// staysOutOfRaft fails the test if the leader's configuration lists id at
// any time during d.
func (tc *testCluster) staysOutOfRaft(id string, d time.Duration, why string) {
	tc.t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		l := tc.leader()
		if l == nil {
			continue
		}
		fut := l.node.raft.GetConfiguration()
		if fut.Error() != nil {
			continue
		}
		for _, s := range fut.Configuration().Servers {
			if s.ID == raft.ServerID(id) {
				tc.t.Fatalf("%s: %s is there as %v", why, id, s.Suffrage)
			}
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func (tc *testCluster) waitFor(what string, d time.Duration, cond func() bool) {
	tc.t.Helper()
	clustertest.WaitFor(tc.t, what, d, cond)
}

func TestClusterBootstrapsAndForwardsWrites(t *testing.T) {
	tc := newTestCluster(t, 3)
	f := tc.follower()
	ctx := context.Background()
	// A write on a follower is forwarded, committed, and visible on that
	// follower as soon as Apply returns.
	res, err := f.node.Apply(ctx, orgCmd("o1", "from a follower"))
	if err != nil {
		t.Fatalf("forwarded apply: %v", err)
	}
	if o, ok := res.(*fsm.Org); !ok || o.Version == 0 {
		t.Fatalf("forwarded apply answered %#v", res)
	}
	if _, ok := f.fsm.View().Orgs["o1"]; !ok {
		t.Fatal("the follower does not read its own write")
	}
	// Business-rule errors come back typed through the forwarding.
	if _, err := f.node.Apply(ctx, orgCmd("o1", "again")); !fsm.IsCode(err, fsm.CodeConflict) {
		t.Fatalf("forwarded conflict: %v", err)
	}
	// After a barrier, every node reads what any node acknowledged.
	for _, n := range tc.nodes {
		if _, err := n.node.Apply(ctx, orgCmd("b-"+n.cfg.NodeID, "barrier "+n.cfg.NodeID)); err != nil {
			t.Fatal(err)
		}
		for _, m := range tc.nodes {
			if err := m.node.Barrier(ctx); err != nil {
				t.Fatalf("barrier on %s: %v", m.cfg.NodeID, err)
			}
			if _, ok := m.fsm.View().Orgs["b-"+n.cfg.NodeID]; !ok {
				t.Fatalf("%s does not see a write acknowledged by %s after a barrier", m.cfg.NodeID, n.cfg.NodeID)
			}
		}
	}
	// Notices reach every other node, not the sender.
	got := make(chan string, 10)
	for id, n := range tc.nodes {
		n.node.Subscribe("test", func(from string, payload []byte) { got <- id + "<-" + from + ":" + string(payload) })
	}
	f.node.Notify("test", []byte(`"hello"`))
	var seen []string
	for len(seen) < 2 {
		select {
		case s := <-got:
			seen = append(seen, s)
		case <-time.After(2 * time.Second):
			t.Fatalf("notices seen: %v", seen)
		}
	}
	for _, s := range seen {
		if !strings.HasSuffix(s, "<-"+f.cfg.NodeID+`:"hello"`) || strings.HasPrefix(s, f.cfg.NodeID+"<-") {
			t.Fatalf("notice %q", s)
		}
	}
	tc.waitFor("the write on every node", 5*time.Second, func() bool {
		for _, n := range tc.nodes {
			if _, ok := n.fsm.View().Orgs["o1"]; !ok {
				return false
			}
		}
		return true
	})
	members, err := f.node.Members(ctx)
	if err != nil || len(members) != 3 {
		t.Fatalf("members %v %v", members, err)
	}
	for _, m := range members {
		if !m.Alive || m.AppliedIndex == 0 || (m.Role != "leader" && m.Role != "follower") {
			t.Fatalf("member %+v", m)
		}
	}
}

func TestClusterSurvivesLeaderLossAndCatchesUp(t *testing.T) {
	tc := newTestCluster(t, 3)
	ctx := context.Background()
	old := tc.leader()
	oldID := old.cfg.NodeID
	tc.kill(oldID)
	tc.waitFor("a new leader", 10*time.Second, func() bool {
		l := tc.leader()
		return l != nil && l.cfg.NodeID != oldID
	})
	var survivor *testNode
	for id, n := range tc.nodes {
		if id != oldID {
			survivor = n
		}
	}
	for i := 0; i < 20; i++ {
		if _, err := survivor.node.Apply(ctx, orgCmd(fmt.Sprintf("o%d", i), fmt.Sprintf("org %d", i))); err != nil {
			t.Fatalf("write %d after failover: %v", i, err)
		}
	}
	// Force a snapshot and compaction so the returning node must install a
	// snapshot rather than replay the log.
	l := tc.leader()
	l.node.cfg.TrailingLogs = 0
	if err := l.node.Snapshot(); err != nil {
		t.Fatal(err)
	}
	back := tc.restart(oldID)
	tc.waitFor("the restarted node to catch up", 10*time.Second, func() bool {
		return len(back.fsm.View().Orgs) == 20
	})
	if v := tc.voters(tc.leader()); v != 3 {
		t.Fatalf("%d voters after the restart, want 3 (a restart is not a removal)", v)
	}
}

func TestJoinPromoteAndRemove(t *testing.T) {
	tc := newTestCluster(t, 3)
	ctx := context.Background()
	cfg := clusterConfig(t, "n4")
	cfg.Join = []string{tc.nodes["n1"].cfg.GossipAddr}
	n4 := tc.start(cfg)
	tc.waitFor("n4 to become a voter", 15*time.Second, func() bool {
		l := tc.leader()
		return l != nil && tc.voters(l) == 4
	})
	if _, err := n4.node.Apply(ctx, orgCmd("from-n4", "from n4")); err != nil {
		t.Fatalf("write through the new node: %v", err)
	}

	// An explicit removal from any node (a follower forwards it).
	remover := tc.nodes["n1"]
	for id, n := range tc.nodes {
		if l := tc.leader(); l != nil && n != l && id != "n4" {
			remover = n
		}
	}
	if err := remover.node.Remove(ctx, "n4"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	tc.waitFor("n4 out of raft and stopped", 10*time.Second, func() bool {
		l := tc.leader()
		return l != nil && tc.voters(l) == 3 && n4.node.Removed()
	})
	// The reconciler must not add the removed node back while gossip
	// still lists it on its way out.
	tc.staysOutOfRaft("n4", time.Second, "the removed node is back in raft")
	if err := tc.nodes["n1"].node.Remove(ctx, "nope"); err == nil {
		t.Fatal("removing an unknown member succeeded")
	}

	// A member that dies is removed after the dead-server timeout, but
	// only while the dead are a minority.
	l := tc.leader()
	var victim string
	for id := range tc.nodes {
		if id != l.cfg.NodeID && id != "n4" {
			victim = id
			break
		}
	}
	tc.kill(victim)
	tc.waitFor("the dead member removed", 15*time.Second, func() bool {
		l := tc.leader()
		return l != nil && tc.voters(l) == 2
	})
}

func TestTransferLeader(t *testing.T) {
	tc := newTestCluster(t, 3)
	old := tc.leader().cfg.NodeID
	var target string
	for id := range tc.nodes {
		if id != old {
			target = id
			break
		}
	}
	// Asked on a follower, carried out by the leader.
	if err := tc.nodes[target].node.TransferLeader(context.Background(), target); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	tc.waitFor("the target to lead", 10*time.Second, func() bool {
		l := tc.leader()
		return l != nil && l.cfg.NodeID == target
	})
	// A follower leaves a named target to the leader, whose answer keeps
	// its meaning across the hop.
	if err := tc.follower().node.TransferLeader(context.Background(), "nope"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("transfer to an unknown member through a follower: %v, want ErrUnknownMember", err)
	}
}

func TestPeersMustShareTheSecret(t *testing.T) {
	tc := newTestCluster(t, 1)
	n1 := tc.nodes["n1"]
	cfg := clusterConfig(t, "intruder")
	cfg.ClusterSecret = "a-different-cluster-secret"
	in := tc.start(cfg)
	if _, err := in.node.call(context.Background(), n1.cfg.RaftAddr, rpcRequest{Method: rpcStatus}); err == nil {
		t.Fatal("a node with another secret made an RPC call")
	}
	// Gossip is encrypted with the secret too: the intruder can't join.
	if joined, _ := in.node.disc.ml.Join([]string{n1.cfg.GossipAddr}); joined > 0 {
		t.Fatal("a node with another secret joined gossip")
	}
}

// TestRecoverFromLossOfMajority kills two of three voters; the survivor
// cannot elect itself, until an operator writes peers.json naming it alone
// and restarts it. It then leads with every committed write intact.
func TestRecoverFromLossOfMajority(t *testing.T) {
	tc := newTestCluster(t, 3)
	ctx := context.Background()
	l := tc.leader()
	for i := 0; i < 5; i++ {
		if _, err := l.node.Apply(ctx, orgCmd(fmt.Sprintf("o%d", i), fmt.Sprintf("org %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var survivor string
	for id := range tc.nodes {
		if survivor == "" {
			survivor = id
			continue
		}
		tc.kill(id)
	}
	s := tc.nodes[survivor]
	tc.waitFor("the survivor to have applied every write", 5*time.Second, func() bool { return len(s.fsm.View().Orgs) == 5 })
	tc.kill(survivor)
	peers := fmt.Sprintf(`[{"id":%q,"address":%q}]`, survivor, s.cfg.RaftAddr)
	if err := os.WriteFile(filepath.Join(s.cfg.DataDir, "raft", "peers.json"), []byte(peers), 0o600); err != nil {
		t.Fatal(err)
	}
	back := tc.restart(survivor)
	tc.waitFor("the survivor to lead alone", 10*time.Second, func() bool { return back.node.IsLeader() })
	if _, err := back.node.Apply(ctx, orgCmd("after", "after recovery")); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	if got := len(back.fsm.View().Orgs); got != 6 {
		t.Fatalf("%d orgs after recovery, want 6", got)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.DataDir, "raft", "peers.json")); !os.IsNotExist(err) {
		t.Fatal("peers.json left behind after recovery")
	}
}

// TestHostNamesAreKeptAsRaftAddresses: nodes named by host (a container's
// or pod's DNS name) are stored in the raft configuration by that name,
// which survives a restart on a new IP; gossip binds the name's IP.
func TestHostNamesAreKeptAsRaftAddresses(t *testing.T) {
	byName := func(a string) string { return strings.Replace(a, "127.0.0.1", "localhost", 1) }
	tc := newTestCluster(t, 3, func(c *Config) {
		c.RaftAddr, c.GossipAddr = byName(c.RaftAddr), byName(c.GossipAddr)
		for i := range c.Join {
			c.Join[i] = byName(c.Join[i])
		}
	})
	l := tc.leader()
	fut := l.node.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		t.Fatal(err)
	}
	for _, s := range fut.Configuration().Servers {
		if !strings.HasPrefix(string(s.Address), "localhost:") {
			t.Fatalf("raft stores %s for %s, want the host name", s.Address, s.ID)
		}
	}
	if _, err := tc.follower().node.Apply(context.Background(), orgCmd("h", "by host name")); err != nil {
		t.Fatal(err)
	}
}

// TestBarrierAfterAnElection: a new leader's first entry is an election's
// no-op, which no state machine applies. A follower's read barrier waits
// for the commands the leader applied, so it does not stall on it; and the
// new leader's own barrier waits for its state machine.
func TestBarrierAfterAnElection(t *testing.T) {
	tc := newTestCluster(t, 3)
	ctx := context.Background()
	if _, err := tc.leader().node.Apply(ctx, orgCmd("o1", "before")); err != nil {
		t.Fatal(err)
	}
	old := tc.leader().cfg.NodeID
	if err := tc.leader().node.TransferLeader(ctx, ""); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	tc.waitFor("every node to know a new leader", 10*time.Second, func() bool {
		l := tc.leader()
		if l == nil || l.cfg.NodeID == old {
			return false
		}
		for _, n := range tc.nodes {
			if n.node.Status().Leader != l.cfg.NodeID {
				return false
			}
		}
		return true
	})
	for id, n := range tc.nodes {
		bctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := n.node.Barrier(bctx)
		cancel()
		if err != nil {
			t.Fatalf("barrier on %s after the election: %v", id, err)
		}
		if n.fsm.View().Orgs["o1"] == nil {
			t.Fatalf("%s passed the barrier without the org", id)
		}
	}
}
