package fsm

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestCommandAppendedAfterItsDeadlineIsANoOp: a write its proposer gave up
// on, appended by the leader after its deadline (the leader was paused),
// changes nothing and answers CodeExpired; one appended in time applies.
// The decision reads only the log entry, so every node makes the same.
func TestCommandAppendedAfterItsDeadlineIsANoOp(t *testing.T) {
	h := newHarness(t)
	h.mustApply(TypeBootstrap, bootstrapBody())
	deadline := t0.Add(5 * time.Second)
	zombie := Command{Type: TypeOrgUpsert, ID: "late", Time: t0, Deadline: deadline, Body: OrgUpsertBody{Org: Org{ID: "o2", Name: "zombie"}, Create: true}}
	data, err := zombie.Encode()
	if err != nil {
		t.Fatal(err)
	}
	before := h.f.View()
	res := h.f.Apply(&raft.Log{Index: 10, Type: raft.LogCommand, Data: data, AppendedAt: deadline.Add(time.Millisecond)})
	var fe *Error
	if err, ok := res.(error); !ok || !errors.As(err, &fe) || fe.Code != CodeExpired {
		t.Fatalf("late command answered %v, want CodeExpired", res)
	}
	if h.f.View() != before || h.f.View().Orgs["o2"] != nil {
		t.Fatal("a command appended after its deadline changed the state")
	}
	// The same command in time (a retry under the same id) applies.
	res = h.f.Apply(&raft.Log{Index: 11, Type: raft.LogCommand, Data: data, AppendedAt: deadline})
	if o, ok := res.(*Org); !ok || o.Name != "zombie" {
		t.Fatalf("command appended at its deadline answered %v", res)
	}
	// Without an append time (a log from an older raft) or a deadline,
	// nothing changes from before.
	plain := Command{Type: TypeOrgUpsert, ID: "plain", Time: t0, Body: OrgUpsertBody{Org: Org{ID: "o3", Name: "plain"}, Create: true}}
	data, _ = plain.Encode()
	if res := h.f.Apply(&raft.Log{Index: 12, Type: raft.LogCommand, Data: data, AppendedAt: deadline.Add(time.Hour)}); res == nil {
		t.Fatal("a command without a deadline was refused")
	} else if _, ok := res.(*Org); !ok {
		t.Fatalf("a command without a deadline answered %v", res)
	}
}
