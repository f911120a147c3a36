// Package fsmtest builds replicated state for tests of the packages that
// read it, without raft.
package fsmtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// AdminHash is a syntactically valid argon2id hash for test users.
const AdminHash = "$argon2id$v=19$m=65536,t=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

// Builder applies commands to an FSM at increasing indexes.
type Builder struct {
	t     testing.TB
	FSM   *fsm.FSM
	mu    sync.Mutex // orders commands from concurrent Commit callers
	index uint64
	// Now is the proposer time of every command (default time.Now).
	Now func() time.Time
}

// New returns a Builder whose state is bootstrapped with org "org1", at
// this build's log version.
func New(t testing.TB) *Builder {
	t.Helper()
	return NewAt(t, fsm.LogVersion)
}

// NewAt is New for a cluster at log version v: 0 is a cluster with a
// server of a build from before log versions.
func NewAt(t testing.TB, v int) *Builder {
	t.Helper()
	b := &Builder{t: t, FSM: fsm.New(), Now: time.Now}
	b.Apply(fsm.TypeBootstrap, fsm.BootstrapBody{
		Meta:  fsm.Meta{ClusterID: "c"},
		Org:   fsm.Org{ID: "org1", Name: "default-org"},
		Admin: fsm.User{ID: "u1", Email: "admin@example.com", PasswordHash: AdminHash, Role: fsm.RoleSuperAdmin},
	})
	if v > 0 { // as a cluster's leader does once every server applies it
		b.Apply(fsm.TypeLogVersion, fsm.LogVersionBody{Version: v})
	}
	return b
}

// Apply applies one command and fails the test if it is rejected.
func (b *Builder) Apply(typ fsm.MessageType, body any) any {
	b.t.Helper()
	res, err := b.Commit(context.Background(), fsm.Command{Type: typ, Time: b.Now(), Body: body})
	if err != nil {
		b.t.Fatalf("apply command %d: %v", typ, err)
	}
	return res
}

// ApplyAs is Apply for a command whose result is a *T (its registered
// result type): it fails the test when the command is rejected or
// answers another type.
func ApplyAs[T any](b *Builder, typ fsm.MessageType, body any) *T {
	b.t.Helper()
	res, err := fsm.ResultOf[T](b.Commit(context.Background(), fsm.Command{Type: typ, Time: b.Now(), Body: body}))
	if err != nil {
		b.t.Fatalf("apply command %d: %v", typ, err)
	}
	return res
}

// Commit applies a command as raft would for a whole cluster: one at a
// time, at the next index, with its own id and time. It is the Apply of
// the cluster for code that proposes commands (quota managers).
func (b *Builder) Commit(ctx context.Context, c fsm.Command) (any, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.index++
	return b.FSM.ApplyCommand(b.index, c)
}

// View is the current state.
func (b *Builder) View() *fsm.State { return b.FSM.View() }
