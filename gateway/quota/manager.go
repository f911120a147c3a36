// Package quota is a node's side of the cluster-wide limits: it admits
// requests against local balances with atomic operations, and keeps those
// balances topped up by leasing capacity from the replicated state in one
// batched raft command per sync, never one per request.
package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// Applier commits a command through raft.
type Applier interface {
	Apply(ctx context.Context, c fsm.Command) (any, error)
}

// Config tunes a Manager.
type Config struct {
	Node string
	// Interval is how often balances are reported and topped up.
	Interval time.Duration
	// TTL is a lease's life; a node that stops syncing loses its leases
	// (counted as spent) after it.
	TTL time.Duration
	// Horizon is how much of its recent rate a node keeps in hand; it
	// asks for more when half is left.
	Horizon time.Duration
	// ReportEvery bounds how long consumption goes unreported and a held
	// lease unrenewed (default 1s; at most a third of TTL).
	ReportEvery time.Duration
	// Wait bounds how long a request waits for a grant when the local
	// balance is empty but the cluster has capacity.
	Wait time.Duration
	// State, when set, puts every limit's cluster-wide usage in the
	// metrics.
	State Viewer
	// OnRefuse, when set, hears of each refusal by a limit (its quota
	// key), for alerts on bursts.
	OnRefuse func(key string)
	// Record, when set with State, is this node's durable record of what
	// its requests spent: after a restart the node settles the leases it
	// held from it before anything else (see recount.go).
	Record Record
	// Ready, when set, says the node has caught up with the cluster; the
	// recount waits for it, so it sees every lease the cluster has.
	Ready  func() bool
	Logger *slog.Logger
	Now    func() time.Time
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = 200 * time.Millisecond
	}
	if c.TTL <= 0 {
		c.TTL = 10 * time.Second
	}
	if c.Horizon <= 0 {
		c.Horizon = 2 * time.Second
	}
	if c.ReportEvery <= 0 {
		c.ReportEvery = time.Second
	}
	c.ReportEvery = min(c.ReportEvery, c.TTL/3)
	if c.Wait <= 0 {
		c.Wait = 250 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// limitID names a limit without building its string key on the hot path.
type limitID struct {
	scope, kind uint8
	id          string
}

var (
	scopes = [...]string{fsm.ScopeKey, fsm.ScopeOrg, fsm.ScopeAlloc}
	kinds  = [...]string{fsm.KindRPM, fsm.KindTPM, fsm.KindConcurrency, fsm.KindBudget}
)

const (
	kRPM = iota
	kTPM
	kConc
	kBudget
)

// Manager tracks every limit this node has seen a request for.
type Manager struct {
	cfg    Config
	apply  Applier
	log    *slog.Logger
	mu     sync.RWMutex
	limits map[limitID]*limit
	kick   chan struct{}
	// synced is closed and replaced after each sync attempt.
	syncMu sync.Mutex
	synced chan struct{}
	// lastOK is when a sync last reached the quorum (Unix nanoseconds).
	lastOK atomic.Int64
	// ahead is how far the quota clock (the leader's) ran ahead of this
	// node's at the last sync, at least: grant time minus the time the
	// answer came, so times the cluster gives are read on this clock
	// without promising too early.
	ahead    atomic.Int64
	commands atomic.Int64
	// running serialises syncs. pending is a sync that may or may not
	// have been applied; it is sent again, under the same id, before
	// anything new.
	running     sync.Mutex
	pending     *fsm.Command
	pendingLims []*limit
	// recounted is set once this node's leases from before it started
	// are settled; recountCmd is that settlement while it is not applied
	// yet. Both belong to the sync goroutine (running).
	recounted  bool
	recountCmd *fsm.Command
	metrics    *metrics
}

// New returns a Manager; Run starts its syncs.
func New(cfg Config, apply Applier) *Manager {
	cfg.defaults()
	return &Manager{cfg: cfg, apply: apply, log: cfg.Logger.With("component", "quota"),
		limits: map[limitID]*limit{}, kick: make(chan struct{}, 1), synced: make(chan struct{}), metrics: newMetrics()}
}

// Commands is how many sync commands this node has committed.
func (m *Manager) Commands() int64 { return m.commands.Load() }

func (m *Manager) get(id limitID) *limit {
	m.mu.RLock()
	l := m.limits[id]
	m.mu.RUnlock()
	if l != nil {
		return l
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l = m.limits[id]; l == nil {
		l = &limit{id: id, key: fsm.QuotaKey(scopes[id.scope], id.id, kinds[id.kind]), scope: scopes[id.scope], kind: kinds[id.kind],
			scopeIdx: id.scope, kindIdx: id.kind}
		l.available.Store(-1) // unknown until the first sync
		m.limits[id] = l
	}
	return l
}

// Error is a refusal by a limit.
type Error struct {
	Kind       string // fsm.Kind*
	Scope      string // key or org
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("the %s's %s limit is reached", e.Scope, e.Kind)
}

// ErrUnavailable is a refusal because this node cannot reach the quorum
// and holds no capacity of its own (the org's partition policy is
// fail_closed).
var ErrUnavailable = errors.New("the gateway cannot reach its cluster to check this limit")

// need is one limit a request passes, and what it took.
type need struct {
	l     *limit
	units int64
	gen   uint16 // the lease generation the units came from
	lease uint64 // the lease RPM units were reported under
}

// Ticket holds a request's reservations until Settle.
type Ticket struct {
	needs  [8]need
	n      int
	booked uint8 // needs already counted in their limit's demand
	// waiting marks needs whose units are counted as waiting.
	waiting uint8
	m       *Manager
}
