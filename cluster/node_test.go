package cluster

import (
	"context"
	"fmt"
	"github.com/tensorgate/tensorgate/cluster/clustertest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
)

func freeAddr(t testing.TB) string {
	t.Helper()
	return clustertest.FreeAddr(t)
}

func testConfig(t testing.TB, dir string) Config {
	c := DefaultConfig()
	c.NodeID = "n1"
	c.DataDir = dir
	c.RaftAddr = freeAddr(t)
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.LeaderLeaseTimeout = 50 * time.Millisecond
	c.Registry = prometheus.NewRegistry()
	return c
}

func startNode(t testing.TB, cfg Config, bootstrap bool) (*Node, *fsm.FSM) {
	t.Helper()
	f := fsm.New()
	n, err := New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if bootstrap {
		if err := n.WaitForLeader(ctx); err != nil {
			t.Fatal(err)
		}
		clustertest.WaitFor(t, "the single node to lead", 10*time.Second, n.IsLeader)
	}
	return n, f
}

func orgCmd(id, name string) fsm.Command {
	return fsm.Command{Type: fsm.TypeOrgUpsert, Body: fsm.OrgUpsertBody{Org: fsm.Org{ID: id, Name: name}, Create: true}}
}

func TestSingleNodeBootstrapApplyRestart(t *testing.T) {
	const afterSnapshot = 500
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	n, f := startNode(t, cfg, true)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		o, err := fsm.Propose[fsm.Org](ctx, n, orgCmd(fmt.Sprintf("o%d", i), fmt.Sprintf("org %d", i)))
		if err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
		if o.Version == 0 || o.CreatedAt.IsZero() {
			t.Fatalf("apply response lacks proposer fields: %+v", o)
		}
	}
	// A business-rule rejection comes back as the fsm's error.
	if _, err := n.Apply(ctx, orgCmd("o0", "again")); !fsm.IsCode(err, fsm.CodeConflict) {
		t.Fatalf("duplicate org: got %v, want conflict", err)
	}
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// Enough after the snapshot that replaying them takes a while.
	for i := range afterSnapshot {
		if _, err := n.Apply(ctx, orgCmd(fmt.Sprintf("after%d", i), fmt.Sprintf("after snapshot %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	const want = 10 + afterSnapshot
	if got := len(f.View().Orgs); got != want {
		t.Fatalf("%d orgs, want %d", got, want)
	}
	st := n.Status()
	if st.State != "Leader" || st.Leader != "n1" || st.AppliedIndex == 0 {
		t.Fatalf("status %+v", st)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Apply(ctx, orgCmd("x", "x")); err == nil {
		t.Fatal("apply after shutdown succeeded")
	}

	// Restart without bootstrap: the node resumes from snapshot plus log.
	cfg.Registry = prometheus.NewRegistry()
	n2, f2 := startNode(t, cfg, false)
	// Caught up (health turns 200) means everything committed before the
	// restart is applied, not only what the snapshot holds: the org made
	// after the snapshot is there.
	clustertest.WaitFor(t, "a catch-up after the restart", 5*time.Second, n2.CaughtUp)
	if got := len(f2.View().Orgs); got != want {
		t.Fatalf("caught up after the restart with %d orgs, want %d", got, want)
	}
	clustertest.Retry(t, 5*time.Second, func() error {
		if got := len(f2.View().Orgs); got != want || !n2.IsLeader() {
			return fmt.Errorf("after restart %d orgs (want %d), leader %v", got, want, n2.IsLeader())
		}
		return nil
	})
	if _, err := n2.Apply(ctx, orgCmd("o99", "post restart")); err != nil {
		t.Fatalf("apply after restart: %v", err)
	}
}

func TestJoiningNodeDoesNotBootstrap(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.GossipAddr = freeAddr(t)
	cfg.Join = []string{freeAddr(t)} // nobody there
	cfg.ClusterSecret = "test-cluster-secret-0123"
	cfg.ForwardHold = 300 * time.Millisecond
	n, _ := startNode(t, cfg, false)
	if _, err := n.Apply(context.Background(), orgCmd("o", "o")); err != ErrNotLeader {
		t.Fatalf("got %v, want ErrNotLeader", err)
	}
	if n.hasState() {
		t.Fatal("a node started with --join bootstrapped a cluster of its own")
	}
}

func TestDataDirBelongsToOneNode(t *testing.T) {
	dir := t.TempDir()
	n, _ := startNode(t, testConfig(t, dir), true)
	_ = n.Shutdown()
	cfg := testConfig(t, dir)
	cfg.NodeID = "other"
	_, err := New(cfg, fsm.New())
	if err == nil || !strings.Contains(err.Error(), `belongs to node "n1"`) {
		t.Fatalf("got %v, want a node id mismatch", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"no id":               func(c *Config) { c.NodeID = "" },
		"no dir":              func(c *Config) { c.DataDir = "" },
		"bad addr":            func(c *Config) { c.RaftAddr = "nope" },
		"lease":               func(c *Config) { c.LeaderLeaseTimeout = time.Hour },
		"join without secret": func(c *Config) { c.GossipAddr = "127.0.0.1:1"; c.Join = []string{"127.0.0.1:2"} },
		"join without gossip": func(c *Config) { c.ClusterSecret = "0123456789abcdef"; c.Join = []string{"127.0.0.1:2"} },
		"short secret":        func(c *Config) { c.ClusterSecret = "short" },
		"half TLS":            func(c *Config) { c.TLS.Cert = "x.pem" },
	} {
		c := DefaultConfig()
		c.NodeID, c.DataDir = "n", "d"
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}

// BenchmarkApplyCommit measures a config write's commit latency on one node:
// propose, fsync to the pebble log, apply.
func BenchmarkApplyCommit(b *testing.B) {
	n, _ := startNode(b, testConfig(b, b.TempDir()), true)
	ctx := context.Background()
	if _, err := n.Apply(ctx, orgCmd("o", "org")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := fsm.Command{Type: fsm.TypeOrgUpsert, Body: fsm.OrgUpsertBody{Org: fsm.Org{ID: "o", Name: fmt.Sprintf("org %d", i)}}}
		if _, err := n.Apply(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNodeWithoutSecretTakesNoPeers checks that a node started without a
// cluster secret refuses every node-to-node connection: nothing could tell
// a peer from a stranger.
func TestNodeWithoutSecretTakesNoPeers(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.GossipAddr = freeAddr(t)
	n, _ := startNode(t, cfg, true)
	if n.disc != nil {
		t.Fatal("gossip started without a cluster secret")
	}
	for _, key := range [][]byte{nil, deriveKey("some-secret-0123456789", "node-auth v1")} {
		a := &peerAuth{key: key, nodeID: "stranger"}
		if c, err := a.dial(cfg.RaftAddr, connRPC, time.Second); err == nil {
			c.Close()
			t.Fatal("a stranger got a node-to-node connection")
		}
	}
}
