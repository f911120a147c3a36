package cluster

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/cluster/clustertest"
	"github.com/tensorgate/tensorgate/storage/diskguard"
)

// fakeSpace is a disk whose fullness the test flips.
type fakeSpace struct{ full atomic.Bool }

func (f *fakeSpace) Full() bool { return f.full.Load() }

func (f *fakeSpace) Err() error {
	if f.full.Load() {
		return &diskguard.FullError{Dir: "/data", Free: 1, Reserve: 2}
	}
	return nil
}

func TestApplyRefusedWhileTheDiskIsFull(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	space := &fakeSpace{}
	cfg.Space = space
	n, f := startNode(t, cfg, true)
	ctx := context.Background()

	space.full.Store(true)
	_, err := n.Apply(ctx, orgCmd("o1", "acme"))
	if !errors.Is(err, diskguard.ErrFull) {
		t.Fatalf("apply on a full disk: %v, want diskguard.ErrFull", err)
	}
	if _, ok := f.View().OrgByName("acme"); ok {
		t.Fatal("the refused write was applied")
	}
	// Raft itself carries on: a barrier (a log entry of raft's own) works.
	if err := n.Barrier(ctx); err != nil {
		t.Fatalf("barrier on a full disk: %v", err)
	}

	space.full.Store(false)
	if _, err := n.Apply(ctx, orgCmd("o1", "acme")); err != nil {
		t.Fatalf("apply once space is back: %v", err)
	}
	if _, ok := f.View().OrgByName("acme"); !ok {
		t.Fatal("the write after recovery is not applied")
	}
}

// TestFullLeaderRefusesForwardedWrites: the leader writes every proposal
// to its log, a follower's forwarded ones too: on a full disk it refuses
// them, and the follower's caller sees the full disk (diskguard.ErrFull,
// answered 503 storage_full), not an opaque failure.
func TestFullLeaderRefusesForwardedWrites(t *testing.T) {
	spaces := map[string]*fakeSpace{}
	tc := newTestCluster(t, 3, func(c *Config) {
		spaces[c.NodeID] = &fakeSpace{}
		c.Space = spaces[c.NodeID]
	})
	l, follower := tc.leader(), tc.follower()
	spaces[l.cfg.NodeID].full.Store(true)
	ctx := context.Background()
	_, err := follower.node.Apply(ctx, orgCmd("o1", "acme"))
	if !errors.Is(err, diskguard.ErrFull) {
		t.Fatalf("a write forwarded to a full leader: %v, want diskguard.ErrFull", err)
	}
	if _, ok := follower.fsm.View().OrgByName("acme"); ok {
		t.Fatal("the refused write was applied")
	}
	// It hands leadership to a node with space; writes go through again.
	clustertest.WaitFor(t, "the full leader to hand leadership away", 15*time.Second, func() bool {
		nl := tc.leader()
		return nl != nil && nl != l
	})
	clustertest.Retry(t, 10*time.Second, func() error {
		_, err := follower.node.Apply(ctx, orgCmd("o1", "acme"))
		return err
	})
}
