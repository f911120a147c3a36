package cluster

import (
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/cluster/clustertest"

	"github.com/tensorgate/tensorgate/fsm"
)

// TestLogVersionRisesOnceEveryServerRunsIt: a cluster with one server of
// an older build (it announces log version 0) stays at 0; once that
// server runs the new build the leader raises the version on every node;
// a member of the older build is then not added.
func TestLogVersionRisesOnceEveryServerRunsIt(t *testing.T) {
	if fsm.LogVersion < 1 {
		t.Fatal("this build applies no log version above 0")
	}
	older := 0
	tc := newTestCluster(t, 3, func(c *Config) {
		if c.NodeID == "n3" {
			c.logVersion = &older
		}
	})
	atVersion := func(v int) bool {
		for id, n := range tc.nodes {
			if id != "n4" && n.node.Status().LogVersion != v {
				return false
			}
		}
		return true
	}
	// Many reconcile passes (100 ms each): an older server holds it back.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !atVersion(0) {
			t.Fatal("the log version rose while a server of an older build is in the cluster")
		}
	}

	// n3 is upgraded: restarted on its data dir with this build.
	tc.kill("n3")
	cfg := tc.nodes["n3"].cfg
	cfg.logVersion = nil
	tc.start(cfg)
	tc.waitFor("every node at this build's log version", 20*time.Second, func() bool { return atVersion(fsm.LogVersion) })

	// A node of the older build is not added.
	cfg4 := clusterConfig(t, "n4")
	cfg4.Join = []string{tc.nodes["n1"].cfg.GossipAddr}
	cfg4.logVersion = &older
	tc.start(cfg4)
	tc.waitFor("n4 in gossip", 10*time.Second, func() bool {
		l := tc.leader()
		if l == nil {
			return false
		}
		for _, m := range l.node.disc.members() {
			if m.ID == "n4" {
				return true
			}
		}
		return false
	})
	tc.staysOutOfRaft("n4", time.Second, "a member of an older build was added")
	if !atVersion(fsm.LogVersion) {
		t.Fatal("the log version changed when an older member showed up")
	}
}

// TestALoneNodeRaisesItsLogVersion: a node without gossip (no cluster
// secret: `make run`) is its own cluster and applies its build's rules.
func TestALoneNodeRaisesItsLogVersion(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.ReconcileInterval = 50 * time.Millisecond
	n, f := startNode(t, cfg, true)
	clustertest.WaitFor(t, "the lone node at its build's log version", 10*time.Second, func() bool {
		return f.View().Meta.LogVersion == fsm.LogVersion
	})
	if st := n.Status(); st.LogVersion != fsm.LogVersion || st.BuildLogVersion != fsm.LogVersion {
		t.Fatalf("status %+v", st)
	}
}
