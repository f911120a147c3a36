package web

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Sign-in lockout: after MaxFailures wrong passwords for one email from
// one address within lockWindow, that pair is refused for lockWindow. It
// is per node (a node's memory), which bounds guessing by the number of
// nodes without a write per attempt.
const (
	MaxFailures = 5
	lockWindow  = 15 * time.Minute
)

type loginGuard struct {
	mu    sync.Mutex
	fails map[string]*failures
}

type failures struct {
	n     int
	first time.Time
}

func guardKey(r *http.Request, email string) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return email + "|" + host
}

// check refuses a sign-in while its email and address are locked out.
func (g *loginGuard) check(key string, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fails[key]
	if f == nil || now.Sub(f.first) > lockWindow {
		return nil
	}
	if f.n >= MaxFailures {
		wait := f.first.Add(lockWindow).Sub(now)
		return &APIError{Status: http.StatusTooManyRequests, Type: "authentication_error", Code: "too_many_attempts",
			Message: fmt.Sprintf("too many failed sign-ins; try again in %d minutes", int(wait.Minutes())+1), RetryAfter: wait}
	}
	return nil
}

// failed counts a wrong password; succeeded forgets the count.
func (g *loginGuard) failed(key string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fails == nil || len(g.fails) > 100_000 {
		g.fails = map[string]*failures{} // bounded: a flood resets, it does not grow
	}
	f := g.fails[key]
	if f == nil || now.Sub(f.first) > lockWindow {
		f = &failures{first: now}
		g.fails[key] = f
	}
	f.n++
}

func (g *loginGuard) succeeded(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.fails, key)
}
