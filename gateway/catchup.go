package gateway

import (
	"context"
	"sync"
	"time"
)

// Barrier waits until this node has applied what the cluster's leader
// has (cluster.Node.Barrier).
type Barrier interface {
	Barrier(ctx context.Context) error
}

// catchUpRate bounds the barriers a node starts a second for unknown keys.
const catchUpRate = 10

// catchUps shares one barrier between every request that waits for one.
type catchUps struct {
	mu      sync.Mutex
	running chan struct{}
	ok      bool
	tokens  float64
	last    time.Time
}

// catchUp waits, at most a second, until this node has applied every
// write the leader has: a key created through another node a moment ago
// is then known here. Requests that need it at the same time share one
// wait, and at most catchUpRate waits start a second, so a flood of bad
// keys never becomes a flood of calls to the leader. It reports whether
// the node caught up.
func (s *Server) catchUp(ctx context.Context) bool {
	if s.barrier == nil {
		return false
	}
	c := &s.catchUps
	c.mu.Lock()
	if c.running == nil {
		now := s.now()
		c.tokens = min(catchUpRate, c.tokens+now.Sub(c.last).Seconds()*catchUpRate)
		c.last = now
		if c.tokens < 1 {
			c.mu.Unlock()
			return false
		}
		c.tokens--
		done := make(chan struct{})
		c.running = done
		go func() {
			bctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := s.barrier.Barrier(bctx)
			cancel()
			c.mu.Lock()
			c.ok, c.running = err == nil, nil
			c.mu.Unlock()
			close(done)
		}()
	}
	done := c.running
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok
}
