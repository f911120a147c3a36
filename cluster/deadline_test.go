package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tensorgate/tensorgate/fsm"
)

// TestDeadlinesAreDecidedAlikeEverywhere: whether a command was appended
// after its deadline is decided from the log entry's append time, which
// must be the same in every node's log, or state machines would diverge.
// A write that reaches the leader too late is a no-op on every node.
func TestDeadlinesAreDecidedAlikeEverywhere(t *testing.T) {
	tc := newTestCluster(t, 3)
	ctx := context.Background()
	tc.waitFor("every server announcing deadlines", 10*time.Second, func() bool {
		return tc.follower().node.everyServerHas(featureDeadlines)
	})
	f := tc.follower()
	if _, err := f.node.Apply(ctx, fsm.Command{Type: fsm.TypeOrgUpsert, Deadline: time.Now().Add(5 * time.Second),
		Body: fsm.OrgUpsertBody{Org: fsm.Org{ID: "o1", Name: "in time"}, Create: true}}); err != nil {
		t.Fatalf("write in time: %v", err)
	}
	_, err := f.node.Apply(ctx, fsm.Command{Type: fsm.TypeOrgUpsert, Deadline: time.Now().Add(-time.Second),
		Body: fsm.OrgUpsertBody{Org: fsm.Org{ID: "o1", Name: "zombie"}}})
	var fe *fsm.Error
	if !errors.As(err, &fe) || fe.Code != fsm.CodeExpired {
		t.Fatalf("write past its deadline: %v, want CodeExpired", err)
	}
	l := tc.leader()
	last := l.node.raft.LastIndex()
	tc.waitFor("every node to apply the last entry", 10*time.Second, func() bool {
		for _, n := range tc.nodes {
			if n.node.raft.AppliedIndex() < last {
				return false
			}
		}
		return true
	})
	for id, n := range tc.nodes {
		if o := n.fsm.View().Orgs["o1"]; o == nil || o.Name != "in time" {
			t.Fatalf("%s: org after the late write: %+v", id, o)
		}
		for idx := uint64(1); idx <= last; idx++ {
			var mine, theirs raft.Log
			if err := n.node.store.GetLog(idx, &mine); err != nil {
				continue // compacted
			}
			if err := l.node.store.GetLog(idx, &theirs); err != nil {
				continue
			}
			if !mine.AppendedAt.Equal(theirs.AppendedAt) {
				t.Fatalf("entry %d appended at %v on %s but %v on the leader", idx, mine.AppendedAt, id, theirs.AppendedAt)
			}
		}
	}
}
