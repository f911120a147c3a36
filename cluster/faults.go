package cluster

import (
	"errors"
	"net"
	"sync"
	"time"
)

// faults injects network partitions and delays between in-process nodes,
// for tests. Every node-to-node connection has its accepting side in some
// node's mux, which consults the shared faults on accept and on every read
// and write, so cutting a pair cuts new and established connections alike.
type faults struct {
	mu    sync.RWMutex
	cut   map[[2]string]bool
	delay time.Duration
}

func newFaults() *faults { return &faults{cut: map[[2]string]bool{}} }

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// partition cuts every link between the two groups.
func (f *faults) partition(left, right []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range left {
		for _, b := range right {
			f.cut[pair(a, b)] = true
		}
	}
}

// heal restores every link.
func (f *faults) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.cut)
}

func (f *faults) setDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

func (f *faults) allowed(a, b string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return !f.cut[pair(a, b)]
}

func (f *faults) wait() {
	f.mu.RLock()
	d := f.delay
	f.mu.RUnlock()
	if d > 0 {
		time.Sleep(d)
	}
}

var errPartitioned = errors.New("cluster: partitioned (test fault)")

// faultConn is a connection that fails while its link is cut.
type faultConn struct {
	net.Conn
	f    *faults
	a, b string
}

func (c *faultConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.f.allowed(c.a, c.b) {
		c.Conn.Close()
		return 0, errPartitioned
	}
	return n, err
}

func (c *faultConn) Write(p []byte) (int, error) {
	if !c.f.allowed(c.a, c.b) {
		c.Conn.Close()
		return 0, errPartitioned
	}
	c.f.wait()
	return c.Conn.Write(p)
}
