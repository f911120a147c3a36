package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/tensorgate/tensorgate/fsm/apierr"
)

// Barrier waits until this node has applied every write that any node
// acknowledged before the call (cluster.Node.Barrier).
type Barrier interface {
	Barrier(ctx context.Context) error
}

// Freshness tells the data plane whether this node's state can be
// trusted to refuse a key (cluster.Node).
type Freshness interface {
	// Ready reports whether the node has caught up with the cluster
	// since it started.
	Ready() bool
	// LastContact is how long since the node last heard from a leader
	// (0 on the leader itself).
	LastContact() time.Duration
}

// catchUpSpacing is the least time between two catch-ups one node starts
// for unknown keys: a flood of bad keys costs the leader at most one
// small call per node this often.
const catchUpSpacing = 50 * time.Millisecond

// catchUpTimeout bounds one catch-up.
const catchUpTimeout = time.Second

// catchUps runs catch-ups one at a time. A request that needs one joins
// the next catch-up to start, never one already under way (that one may
// have asked the leader before the key the request carries was created),
// and every request waiting at the same time shares it.
type catchUps struct {
	mu        sync.Mutex
	next      *catchUpRound // the round requests join; nil when none waits
	running   bool          // the loop that starts rounds is running
	lastStart time.Time
}

type catchUpRound struct {
	done chan struct{}
	ok   bool
}

// catchUp waits until this node has applied every write acknowledged
// anywhere before it was called: a key created through another node a
// moment ago is then known here. It reports whether the node caught up;
// false means the node cannot tell (it is cut off, or no leader answered
// in time) and must not refuse a key as unknown.
func (s *Server) catchUp(ctx context.Context) bool {
	if s.barrier == nil {
		return false
	}
	c := &s.catchUps
	c.mu.Lock()
	if c.next == nil {
		c.next = &catchUpRound{done: make(chan struct{})}
	}
	round := c.next
	if !c.running {
		c.running = true
		go s.runCatchUps()
	}
	c.mu.Unlock()
	select {
	case <-round.done:
		return round.ok
	case <-ctx.Done():
		return false
	}
}

// runCatchUps starts rounds, spaced by catchUpSpacing, while requests
// wait for one.
func (s *Server) runCatchUps() {
	c := &s.catchUps
	for {
		c.mu.Lock()
		if c.next == nil {
			c.running = false
			c.mu.Unlock()
			return
		}
		wait := catchUpSpacing - time.Since(c.lastStart)
		c.mu.Unlock()
		if wait > 0 {
			time.Sleep(wait)
		}
		c.mu.Lock()
		round := c.next
		c.next = nil
		c.lastStart = time.Now()
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), catchUpTimeout)
		round.ok = s.barrier.Barrier(ctx) == nil
		cancel()
		close(round.done)
	}
}

// errNotCurrent answers a request this node cannot decide because its
// state may be behind the cluster's: retryable, unlike a 401.
func errNotCurrent(why string) *apierr.Error {
	e := apierr.New(apierr.CodeServiceUnavailable, why+"; retry shortly, or on another node")
	e.RetryAfter = time.Second
	return e
}
