package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// ErrNoQuorum is wrapped by a read barrier that could not confirm, within
// its caller's deadline, that this node's state is current: no leader was
// known, the leader could not reach a quorum, or this node could not
// reach the leader.
var ErrNoQuorum = errors.New("cluster: cannot confirm with a quorum that this node's state is current")

// Barrier returns once this node has applied every write that any node
// acknowledged before the call, so a read of the local state after it is
// linearizable. On the leader it confirms its leadership with a quorum (a
// leader paused or cut off learns here that it was deposed); on a
// follower it asks the leader for the index the leader confirmed that
// way and waits to apply it. Across an election it waits for a leader;
// when ctx ends first it returns an error wrapping ErrNoQuorum.
func (n *Node) Barrier(ctx context.Context) error {
	backoff := 10 * time.Millisecond
	for {
		err := n.readIndexOnce(ctx)
		if err == nil {
			return nil
		}
		if n.removed.Load() {
			return fmt.Errorf("%w: this node was removed from the cluster", ErrNoQuorum)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrNoQuorum, err)
		case <-n.stop:
			return ErrShutdown
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// readIndexOnce is one attempt of Barrier.
func (n *Node) readIndexOnce(ctx context.Context) error {
	if n.raft.State() == raft.Leader {
		_, err := n.verifiedIndex(ctx)
		return err
	}
	addr, _ := n.raft.LeaderWithID()
	if addr == "" {
		return ErrNotLeader
	}
	sent := time.Now()
	resp, err := n.call(ctx, string(addr), rpcRequest{Method: rpcReadIndex})
	if err != nil {
		return fmt.Errorf("%w: %v", errForward, err)
	}
	if resp.Err == nil {
		n.noteClock(sent, time.Now(), resp.Clock)
	}
	if resp.Err != nil {
		if resp.Err.Kind == "other" && strings.HasPrefix(resp.Err.Msg, unknownMethod) {
			// A leader from before read indexes (mid-upgrade): what its
			// status says is the best there is.
			return n.barrier(ctx, true)
		}
		return resp.Err.toError()
	}
	return n.waitApplied(ctx, resp.Index)
}

// verifiedIndex, on the leader, confirms with a quorum that this node
// still leads, makes sure its state machine has applied every entry of
// earlier terms, and returns the index of the last command it applied:
// every write acknowledged before the call is at or below it (the leader
// acknowledges a write only once its state machine has applied it).
//
// VerifyLeader counts any follower answer the leader reads after the call,
// and a leader resumed from a pause may read answers its followers sent
// before it: their word from before an election since. So for a while
// after this process did not run for a moment (see watchPauses), the
// confirmation is a barrier entry instead, which only a quorum that still
// follows this leader can commit.
func (n *Node) verifiedIndex(ctx context.Context) (uint64, error) {
	if n.pauses.suspect(time.Now()) {
		n.leaderReady.Store(0)
		if err := n.leaderBarrier(ctx); err != nil {
			return 0, err
		}
		return n.committedCommand(ctx)
	}
	fut := n.raft.VerifyLeader()
	errc := make(chan error, 1)
	go func() { errc <- fut.Error() }()
	select {
	case err := <-errc:
		switch {
		case err == nil:
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
			return 0, ErrNotLeader
		case errors.Is(err, raft.ErrRaftShutdown):
			return 0, ErrShutdown
		default:
			return 0, fmt.Errorf("verify leadership: %w", err)
		}
	case <-ctx.Done():
		return 0, fmt.Errorf("verify leadership with a quorum: %w", ctx.Err())
	case <-n.stop:
		return 0, ErrShutdown
	}
	if err := n.leaderBarrier(ctx); err != nil {
		return 0, err
	}
	return n.committedCommand(ctx)
}

// committedCommand, on a leader that has just confirmed it leads, returns
// the index of the last command at or below its commit index, once its
// own state machine has applied it. That bound, not what the leader has
// applied so far, is the read index: a follower learns of a commit and
// may apply it before the leader's own state machine gets to it (raft
// hands committed entries to the state machine asynchronously), and a
// read there may already have seen it. Entries that are no commands
// (elections' no-ops, barriers, configurations) never reach the state
// machine, so the bound is the last command below the commit index.
func (n *Node) committedCommand(ctx context.Context) (uint64, error) {
	commit := n.raft.CommitIndex()
	applied := n.fsm.AppliedIndex()
	target := applied
	for i := commit; i > applied; i-- {
		var l raft.Log
		err := n.store.GetLog(i, &l)
		if errors.Is(err, raft.ErrLogNotFound) {
			break // compacted into a snapshot the state machine holds
		}
		if err != nil {
			return 0, fmt.Errorf("read log entry %d: %w", i, err)
		}
		if l.Type == raft.LogCommand {
			target = i
			break
		}
	}
	if err := n.waitApplied(ctx, target); err != nil {
		return 0, err
	}
	return target, nil
}

// Staleness says how current this node's local state is, for reads that
// accept a stale answer: how long since it last heard from a leader (zero
// on the leader itself; since the process started when it never has),
// whether it knows one, and the index of the last command it applied.
type Staleness struct {
	LastContact time.Duration
	KnownLeader bool
	Index       uint64
}

// LastContact is how long since this node last heard from a leader: zero
// on the leader itself, since the process started when it never has. It
// is Staleness's LastContact without the rest, for the data plane.
func (n *Node) LastContact() time.Duration {
	if n.raft.State() == raft.Leader {
		return 0
	}
	// raft counts a deposed leader's step-down as a contact, so its word
	// is not from before it was elected.
	last := n.raft.LastContact()
	if last.IsZero() {
		last = n.started // never heard from one: as stale as the process is old
	}
	return time.Since(last)
}

// Staleness reports how stale a read of the local state may be.
func (n *Node) Staleness() Staleness {
	s := Staleness{Index: n.fsm.AppliedIndex()}
	if addr, _ := n.raft.LeaderWithID(); addr != "" {
		s.KnownLeader = true
	}
	s.LastContact = n.LastContact()
	return s
}

// pauseWatch notices when this process did not run for a while (SIGSTOP,
// a VM or container frozen, severe starvation): its ticker falls behind.
type pauseWatch struct {
	last         atomic.Int64 // unix nanoseconds of the last tick
	suspectUntil atomic.Int64
}

const (
	pauseTick = 20 * time.Millisecond
	// pauseGap is a gap between ticks that counts as a pause: well
	// under an election timeout, well over scheduling noise.
	pauseGap = 150 * time.Millisecond
	// pauseDistrust is how long after a pause a leader confirms reads
	// with a barrier entry.
	pauseDistrust = 3 * time.Second
)

// suspect reports whether now is within, or just after, a pause.
func (p *pauseWatch) suspect(now time.Time) bool {
	t := now.UnixNano()
	return t-p.last.Load() > int64(pauseGap) || t < p.suspectUntil.Load()
}

func (p *pauseWatch) tick(now time.Time) {
	t := now.UnixNano()
	if prev := p.last.Swap(t); prev != 0 && t-prev > int64(pauseGap) {
		p.suspectUntil.Store(t + int64(pauseDistrust))
	}
}

// watchPauses ticks the pause watch until shutdown.
func (n *Node) watchPauses() {
	defer n.wg.Done()
	t := time.NewTicker(pauseTick)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			n.pauses.tick(now)
		}
	}
}
