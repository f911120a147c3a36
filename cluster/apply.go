package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tensorgate/tensorgate/fsm"
)

// Apply commits a command through raft from any node: on the leader
// directly, elsewhere by forwarding it to the leader over the authenticated
// RPC. Across an election it retries with jitter for up to ForwardHold;
// the command's id makes a retry of a command that did commit a no-op, so
// a write is applied at most once. It returns once the command is applied
// on this node, so the caller reads its own write. A business-rule
// rejection comes back as the fsm's *fsm.Error. The result is of the type
// registered with the command's handler (fsm.ResultType), whichever node
// proposes and however often; read it with fsm.Propose or fsm.ResultOf.
func (n *Node) Apply(ctx context.Context, c fsm.Command) (any, error) {
	if err := n.roomToWrite(); err != nil {
		return nil, err
	}
	if c.ID == "" {
		c.ID = newID()
	}
	if c.Time.IsZero() {
		c.Time = time.Now().UTC()
	}
	if !c.Deadline.IsZero() && !n.everyServerHas(featureDeadlines) {
		c.Deadline = time.Time{} // mid-upgrade: an older server would apply it anyway
	}
	data, err := c.Encode()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := n.retryOnLeader(ctx, func() (any, error) { return n.applyOnce(ctx, c.Type, data) })
	if err == nil {
		n.metrics.commit.Observe(time.Since(start).Seconds())
	}
	return res, err
}

var _ fsm.Applier = (*Node)(nil)

// everyServerHas reports whether every raft server announces feature in
// gossip; a server gossip does not show (down, or cut off) might be an
// older build, so it counts as lacking it.
func (n *Node) everyServerHas(feature string) bool {
	fut := n.raft.GetConfiguration()
	if fut.Error() != nil {
		return false
	}
	servers := fut.Configuration().Servers
	if n.disc == nil {
		return len(servers) <= 1
	}
	n.disc.liveMu.RLock()
	defer n.disc.liveMu.RUnlock()
	for _, s := range servers {
		if string(s.ID) == n.cfg.NodeID {
			continue
		}
		m, ok := n.disc.live[string(s.ID)]
		if !ok || !slices.Contains(m.Features, feature) {
			return false
		}
	}
	return true
}

// retryOnLeader runs attempt until it succeeds or fails for a reason other
// than a missing or changing leader, backing off with jitter for at most
// ForwardHold.
func (n *Node) retryOnLeader(ctx context.Context, attempt func() (any, error)) (any, error) {
	hold := time.NewTimer(n.cfg.ForwardHold)
	defer hold.Stop()
	backoff := 25 * time.Millisecond
	for {
		res, err := attempt()
		if err == nil || !retryable(err) {
			return res, err
		}
		if n.removed.Load() {
			return nil, ErrShutdown
		}
		wait := backoff/2 + rand.N(backoff)
		if backoff < time.Second {
			backoff *= 2
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for a leader: %w", ctx.Err())
		case <-n.stop:
			return nil, ErrShutdown
		case <-hold.C:
			n.log.Warn("no leader answered within the hold time", "hold", n.cfg.ForwardHold, "err", err)
			return nil, ErrNotLeader
		case <-time.After(wait):
		}
	}
}

// retryable reports errors that another attempt, perhaps at a new leader,
// may not meet.
func retryable(err error) bool {
	var fe *fsm.Error
	if errors.As(err, &fe) {
		return false
	}
	return errors.Is(err, ErrNotLeader) || errors.Is(err, errForward)
}

var errForward = errors.New("cluster: forwarding to the leader failed")

func (n *Node) applyOnce(ctx context.Context, typ fsm.MessageType, data []byte) (any, error) {
	if n.raft.State() == raft.Leader {
		_, res, err := n.applyLocal(ctx, data)
		return res, err
	}
	addr, id := n.raft.LeaderWithID()
	if addr == "" {
		return nil, ErrNotLeader
	}
	resp, err := n.call(ctx, string(addr), rpcRequest{Method: rpcApply, Command: data})
	if err != nil {
		n.log.Debug("forward to leader", "leader", string(id), "err", err)
		return nil, fmt.Errorf("%w: %v", errForward, err)
	}
	if resp.Err != nil {
		return nil, resp.Err.toError()
	}
	if err := n.waitApplied(ctx, resp.Index); err != nil {
		return nil, err
	}
	return fsm.DecodeResult(typ, resp.Result)
}

// applyLocal proposes on this node, which must be the leader.
func (n *Node) applyLocal(ctx context.Context, data []byte) (uint64, any, error) {
	if n.removed.Load() {
		return 0, nil, ErrShutdown
	}
	if n.raft.State() != raft.Leader {
		return 0, nil, ErrNotLeader
	}
	// The leader writes every proposal, its own or forwarded, to its log
	// first: on a full disk it refuses them as a proposing node does.
	if err := n.roomToWrite(); err != nil {
		return 0, nil, err
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return 0, nil, ErrTimeout
		}
	}
	// Quota syncs carry the leader's time, so every report and grant is
	// placed on one clock however far the nodes' clocks drift apart.
	data, err := fsm.StampLeaderTime(data, time.Now())
	if err != nil {
		return 0, nil, err
	}
	fut := n.raft.Apply(data, timeout)
	errc := make(chan error, 1)
	go func() { errc <- fut.Error() }()
	// raft's timeout covers only enqueueing; bound the wait for the commit
	// too, so a proposal caught in a leadership change or a shutdown never
	// holds its caller (or an RPC handler) forever.
	wait := time.NewTimer(timeout + n.cfg.ApplyTimeout)
	defer wait.Stop()
	select {
	case err = <-errc:
	case <-ctx.Done():
		// The entry may still commit; a retry with the same id is safe.
		return 0, nil, ctx.Err()
	case <-n.stop:
		return 0, nil, ErrShutdown
	case <-wait.C:
		return 0, nil, ErrTimeout
	}
	switch {
	case err == nil:
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return 0, nil, ErrNotLeader
	case errors.Is(err, raft.ErrRaftShutdown):
		return 0, nil, ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return 0, nil, ErrTimeout
	default:
		return 0, nil, fmt.Errorf("apply: %w", err)
	}
	if rerr, ok := fut.Response().(error); ok {
		return fut.Index(), nil, rerr
	}
	return fut.Index(), fut.Response(), nil
}

// waitApplied blocks until this node has applied index, so a forwarded
// write is visible to the caller's next read here.
func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	if n.fsm.AppliedIndex() >= index {
		return nil
	}
	deadline := time.NewTimer(n.cfg.ApplyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for n.fsm.AppliedIndex() < index {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stop:
			return ErrShutdown
		case <-deadline.C:
			return fmt.Errorf("%w: committed at index %d but not yet applied here", ErrTimeout, index)
		case <-tick.C:
		}
	}
	return nil
}

// barrier waits until this node has applied what the leader reports
// having applied, without the leader confirming its leadership: for
// CaughtUp, and for reads behind a leader from before read indexes.
// oldLeader says what to do when the leader does not report its state
// index (a version from before it, or no command applied yet): wait for
// its raft index instead (which an election's no-op can put out of reach
// until the next write), or not wait.
func (n *Node) barrier(ctx context.Context, oldLeader bool) error {
	if n.raft.State() == raft.Leader {
		return n.leaderBarrier(ctx)
	}
	addr, _ := n.raft.LeaderWithID()
	if addr == "" {
		return ErrNotLeader
	}
	st, err := n.statusOf(ctx, addr)
	if err != nil {
		return err
	}
	idx := st.StateIndex
	if idx == 0 {
		if !oldLeader {
			return nil
		}
		idx = st.AppliedIndex
	}
	return n.waitApplied(ctx, idx)
}

// leaderBarrier returns once this leader's state machine has applied every
// entry of its log: a newly elected leader has committed the entries of
// earlier terms but may not have applied them yet (a restarted node
// replaying its log). It costs one raft entry the first time in a term.
func (n *Node) leaderBarrier(ctx context.Context) error {
	term := n.raft.CurrentTerm()
	if n.leaderReady.Load() == term {
		return nil
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 { // raft would take it for no timeout at all
		return fmt.Errorf("wait for the leader's state to catch up: %w", context.DeadlineExceeded)
	}
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return fmt.Errorf("wait for the leader's state to catch up: %w", err)
	}
	n.leaderReady.Store(term)
	return nil
}
