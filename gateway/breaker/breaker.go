// Package breaker keeps a circuit breaker per upstream target: it opens on
// a run of consecutive failures or a high error rate over a window, stays
// open for a cooldown (or until an upstream's Retry-After), then lets a
// few probes through half-open and closes when they succeed.
package breaker

import (
	"sync"
	"time"
)

// State of a breaker.
type State uint8

const (
	Closed State = iota
	Open
	HalfOpen
)

func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return "closed"
}

// Settings tune a breaker; zero fields take the defaults.
type Settings struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row (default 5).
	ConsecutiveFailures int
	// ErrorRatePercent opens it when at least this share of the calls in
	// Window failed (default 50), once MinRequests calls were seen
	// (default 20).
	ErrorRatePercent int
	MinRequests      int
	Window           time.Duration // default 10s
	Cooldown         time.Duration // time open before probing (default 30s)
	HalfOpenProbes   int           // probes allowed at once, and successes needed to close (default 1)
}

// WithDefaults fills the zero fields.
func (s Settings) WithDefaults() Settings {
	if s.ConsecutiveFailures <= 0 {
		s.ConsecutiveFailures = 5
	}
	if s.ErrorRatePercent <= 0 {
		s.ErrorRatePercent = 50
	}
	if s.MinRequests <= 0 {
		s.MinRequests = 20
	}
	if s.Window <= 0 {
		s.Window = 10 * time.Second
	}
	if s.Cooldown <= 0 {
		s.Cooldown = 30 * time.Second
	}
	if s.HalfOpenProbes <= 0 {
		s.HalfOpenProbes = 1
	}
	return s
}

// buckets is the window's resolution.
const buckets = 10

// Breaker is one target's breaker. It is safe for concurrent use.
type Breaker struct {
	mu          sync.Mutex
	set         Settings
	state       State
	consecutive int
	// ok and fail count calls per window bucket; bucketAt is the start
	// of the newest bucket.
	ok, fail [buckets]int
	bucketAt time.Time
	// until is when an open breaker starts probing.
	until time.Time
	// probes in flight, and probe successes so far, while half-open.
	probing, passed int
	// onChange, when set, is told of every transition (outside the lock).
	onChange func(Transition)
}

// Transition is a change of state, for metrics, gossip and alerts.
type Transition struct {
	From, To State
	// Until is when an opened breaker will probe.
	Until time.Time
	// Reason says why it changed: "consecutive_failures", "error_rate",
	// "retry_after", "probe_failed", "probes_passed", "peer".
	Reason string
}

// New returns a closed breaker.
func New(s Settings, onChange func(Transition)) *Breaker {
	return &Breaker{set: s.WithDefaults(), onChange: onChange}
}

// Allow reports whether a call may go to the target now. A true probe
// means the call is one of the half-open probes: its outcome decides.
func (b *Breaker) Allow(now time.Time) (ok, probe bool) {
	b.mu.Lock()
	if b.state == Closed {
		b.mu.Unlock()
		return true, false
	}
	var tr *Transition
	if b.state == Open && !now.Before(b.until) {
		tr = b.to(HalfOpen, now, "cooldown_over")
	}
	if b.state == HalfOpen && b.probing < b.set.HalfOpenProbes {
		b.probing++
		ok, probe = true, true
	}
	b.mu.Unlock()
	b.notify(tr)
	return ok, probe
}

// Until is when an open breaker will let a probe through; zero unless
// open.
func (b *Breaker) Until() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Open {
		return time.Time{}
	}
	return b.until
}

// State is the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Success records a call that worked.
func (b *Breaker) Success(now time.Time, probe bool) {
	b.mu.Lock()
	var tr *Transition
	b.advance(now)
	b.ok[0]++
	b.consecutive = 0
	if b.state == HalfOpen && probe {
		b.probing--
		b.passed++
		if b.passed >= b.set.HalfOpenProbes {
			tr = b.to(Closed, now, "probes_passed")
		}
	}
	b.mu.Unlock()
	b.notify(tr)
}

// Failure records a call that failed in a way that is the target's fault
// (connection error, timeout, 5xx, 429). retryAfter, when positive, is
// the upstream's own request to wait: the breaker opens until then.
func (b *Breaker) Failure(now time.Time, probe bool, retryAfter time.Duration) {
	b.mu.Lock()
	var tr *Transition
	b.advance(now)
	b.fail[0]++
	b.consecutive++
	switch {
	case b.state == HalfOpen && probe:
		b.probing--
		tr = b.open(now, b.set.Cooldown, "probe_failed")
	case b.state == Closed && retryAfter > 0:
		tr = b.open(now, retryAfter, "retry_after")
	case b.state == Closed && b.consecutive >= b.set.ConsecutiveFailures:
		tr = b.open(now, b.set.Cooldown, "consecutive_failures")
	case b.state == Closed && b.rateExceeded():
		tr = b.open(now, b.set.Cooldown, "error_rate")
	}
	b.mu.Unlock()
	b.notify(tr)
}

// Release returns a probe slot whose call ended without a verdict on the
// target (the client went away).
func (b *Breaker) Release(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	if b.state == HalfOpen && b.probing > 0 {
		b.probing--
	}
	b.mu.Unlock()
}

// Peer applies a transition another node observed: open until a time, or
// closed. It is not reported to onChange as the node's own.
func (b *Breaker) Peer(now time.Time, open bool, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case open && until.After(now) && (b.state != Open || until.After(b.until)):
		b.state, b.until, b.probing, b.passed = Open, until, 0, 0
	case !open && b.state != Closed:
		b.state, b.consecutive, b.probing, b.passed = Closed, 0, 0, 0
		b.ok, b.fail = [buckets]int{}, [buckets]int{}
	}
}

func (b *Breaker) open(now time.Time, d time.Duration, reason string) *Transition {
	b.until = now.Add(d)
	return b.to(Open, now, reason)
}

// to moves to state s; the caller holds the lock.
func (b *Breaker) to(s State, now time.Time, reason string) *Transition {
	tr := &Transition{From: b.state, To: s, Reason: reason}
	b.state, b.probing, b.passed = s, 0, 0
	switch s {
	case Open:
		tr.Until = b.until
	case Closed:
		b.consecutive = 0
		b.ok, b.fail = [buckets]int{}, [buckets]int{}
		b.bucketAt = now
	}
	return tr
}

func (b *Breaker) notify(tr *Transition) {
	if tr != nil && b.onChange != nil {
		b.onChange(*tr)
	}
}

// advance shifts the window so bucket 0 holds now.
func (b *Breaker) advance(now time.Time) {
	width := b.set.Window / buckets
	if b.bucketAt.IsZero() {
		b.bucketAt = now
		return
	}
	n := int(now.Sub(b.bucketAt) / width)
	if n <= 0 {
		return
	}
	if n >= buckets {
		b.ok, b.fail = [buckets]int{}, [buckets]int{}
	} else {
		copy(b.ok[n:], b.ok[:buckets-n])
		copy(b.fail[n:], b.fail[:buckets-n])
		for i := 0; i < n; i++ {
			b.ok[i], b.fail[i] = 0, 0
		}
	}
	b.bucketAt = b.bucketAt.Add(time.Duration(n) * width)
}

func (b *Breaker) rateExceeded() bool {
	var ok, fail int
	for i := range buckets {
		ok += b.ok[i]
		fail += b.fail[i]
	}
	total := ok + fail
	return total >= b.set.MinRequests && fail*100 >= b.set.ErrorRatePercent*total
}
