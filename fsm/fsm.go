package fsm

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// FSM is the raft state machine. It is safe for concurrent use: raft calls
// Apply, Snapshot and Restore from its own goroutine, and any number of
// readers call View.
type FSM struct {
	mu    sync.Mutex // serialises Apply, Snapshot and Restore; guards dedup
	state atomic.Pointer[State]
	dedup *dedupe
	// applied is the index of the last log entry Apply returned for,
	// whatever its outcome. Raft's own AppliedIndex runs ahead of the fsm
	// (it counts entries handed to the fsm goroutine), so read-your-writes
	// waits on this one.
	applied atomic.Uint64
}

var _ raft.FSM = (*FSM)(nil)

// New returns an FSM holding empty state.
func New() *FSM {
	f := &FSM{dedup: newDedupe()}
	f.state.Store(emptyState())
	return f
}

// View returns the current immutable state.
func (f *FSM) View() *State { return f.state.Load() }

// Apply applies one committed raft log entry.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.applied.Store(l.Index)
	res, err := f.applyData(l.Data, l.Index, l.AppendedAt)
	if err != nil {
		return err
	}
	return res
}

// AppliedIndex is the raft index of the last command this fsm applied (or
// rejected).
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// ApplyCommand encodes and applies c at index, as if raft had committed it.
// It is for tools and tests that build state without a raft log; the node
// itself only applies through raft.
func (f *FSM) ApplyCommand(index uint64, c Command) (any, error) {
	data, err := c.Encode()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applyData(data, index, time.Time{})
}

// applyData decodes and applies one command at a raft index, appended to
// the leader's log at appended (zero when unknown). It panics on
// undecodable input, as a diverged state machine is worse than a crash.
func (f *FSM) applyData(data []byte, index uint64, appended time.Time) (any, error) {
	c, err := decodeCommand(data)
	if err != nil {
		panic(err)
	}
	h, ok := handlers[c.Type&^IgnoreUnknown]
	if !ok {
		if c.Type&IgnoreUnknown != 0 {
			return nil, nil // this build has no result type for it
		}
		panic(fmt.Sprintf("fsm: unknown command type %d at index %d", c.Type, index))
	}
	if prev, ok := f.dedup.lookup(c.ID); ok && c.ID != "" {
		// Already applied under this id: a retry after a lost leadership.
		// Answer the original result and change nothing.
		return DecodeResult(prev.Type, prev.Result)
	}
	if !c.Deadline.IsZero() && !appended.IsZero() && appended.After(c.Deadline) {
		// Its proposer gave up (and told its client so) before the leader
		// took it: applying it now would overwrite what came after.
		return nil, &Error{Code: CodeExpired, Msg: fmt.Sprintf("the leader took this write %v after its deadline; it was not applied",
			appended.Sub(c.Deadline).Round(time.Millisecond))}
	}
	cur := f.state.Load()
	next := cur.clone()
	next.Index = index
	res, err := h.apply(next, c, index)
	if err != nil {
		return nil, err
	}
	f.state.Store(next)
	if c.ID != "" {
		enc, encErr := EncodeResult(res)
		if encErr != nil {
			panic(encErr) // results are plain structs; this is a programming error
		}
		f.dedup.add(&applied{ID: c.ID, Index: index, Type: c.Type, Result: enc})
	}
	return res, nil
}

// decodeBody decodes a command's payload, panicking if it does not decode:
// the proposer encoded it from the same struct, so a failure means a
// corrupt log or an incompatible build.
func decodeBody[T any](c decoded) T {
	var v T
	if err := json.Unmarshal(c.Body, &v); err != nil {
		panic(fmt.Sprintf("fsm: decode body of command type %d: %v", c.Type, err))
	}
	return v
}

// Snapshot captures the current state; Persist may run concurrently with
// later applies because states are immutable.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &snapshot{state: f.state.Load(), applied: f.dedup.clone()}, nil
}

// Restore replaces the state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, applied, err := readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restore fsm: %w", err)
	}
	d := newDedupe()
	for _, a := range applied {
		d.add(a)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state.Store(s)
	f.dedup = d
	if s.Index > f.applied.Load() {
		f.applied.Store(s.Index)
	}
	return nil
}

type snapshot struct {
	state   *State
	applied []*applied
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, s.state, s.applied); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist fsm snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
