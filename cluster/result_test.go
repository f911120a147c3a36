package cluster

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// TestApplyAnswersOneTypeOnEveryNode: Node.Apply answers every command
// type's registered result type, with the same encoding, whether the
// leader applies it, a follower forwards it, or either retries it (the
// leader's dedupe table). Samples alternate which node proposes first.
func TestApplyAnswersOneTypeOnEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	tc := newTestCluster(t, 3)
	ctx := context.Background()
	for i, s := range fsmtest.Samples() {
		typ := s.Command.Type
		want, ok := fsm.ResultType(typ)
		if !ok {
			t.Fatalf("type %d: no result type registered", typ)
		}
		l, f := tc.leader(), tc.follower()
		if l == nil || f == nil {
			t.Fatal("no leader or no follower")
		}
		for _, c := range s.Setup {
			if _, err := l.node.Apply(ctx, c); err != nil {
				t.Fatalf("type %d: setup command %d: %v", typ, c.Type, err)
			}
		}
		order := []*testNode{l, f, l, f}
		if i%2 == 1 {
			order = []*testNode{f, l, f, l}
		}
		var first []byte
		for j, n := range order {
			res, err := n.node.Apply(ctx, s.Command)
			if err != nil {
				t.Fatalf("type %d on %s (attempt %d): %v", typ, n.cfg.NodeID, j, err)
			}
			if got := reflect.TypeOf(res); got != want {
				t.Errorf("type %d on %s (attempt %d): got %v, want %v", typ, n.cfg.NodeID, j, got, want)
			}
			enc, err := fsm.EncodeResult(res)
			if err != nil {
				t.Fatal(err)
			}
			if j == 0 {
				first = enc
			} else if !bytes.Equal(enc, first) {
				t.Errorf("type %d on %s (attempt %d): answered %s, first %s", typ, n.cfg.NodeID, j, enc, first)
			}
		}
	}
}
