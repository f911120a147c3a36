package diskguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrFull is what every refusal for want of disk space wraps: a write
// refused by a store, a request refused by the gateway.
var ErrFull = errors.New("diskguard: disk below its reserve")

// FullError says which directory is below the reserve, and by how much.
type FullError struct {
	Dir     string
	Free    int64
	Reserve int64
}

func (e *FullError) Error() string {
	return fmt.Sprintf("disk of %s has %d bytes free, below the reserve of %d", e.Dir, e.Free, e.Reserve)
}

// Is makes errors.Is(err, ErrFull) hold.
func (e *FullError) Is(target error) bool { return target == ErrFull }

// StatFunc reports the bytes an unprivileged writer may still use on the
// filesystem holding dir.
type StatFunc func(dir string) (free int64, err error)

// Config configures a Guard.
type Config struct {
	// Dirs are the directories watched; a node is full when any is.
	Dirs []string
	// Reserve is the free space, in bytes, below which the disk is full.
	Reserve int64
	// Interval between two looks (default 250ms).
	Interval time.Duration
	// Stat measures free space (default: statfs). Tests inject their own.
	Stat   StatFunc
	Logger *slog.Logger
}

// DirStatus is one watched directory as last measured.
type DirStatus struct {
	Dir  string `json:"dir"`
	Free int64  `json:"free_bytes"`
	// Full says Free is below the reserve.
	Full bool `json:"full"`
	// Err is why the last measurement failed; Free is then the one
	// before it.
	Err string `json:"error,omitempty"`
}

// Guard watches free disk space.
type Guard struct {
	cfg  Config
	log  *slog.Logger
	full atomic.Bool

	mu     sync.Mutex // guards dirs and serializes Check
	dirs   []DirStatus
	failed map[string]bool // dirs whose last stat failed, logged once
}

// New returns a guard that has already measured every directory once, so
// Full is right from the start.
func New(cfg Config) (*Guard, error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("diskguard: no directories to watch")
	}
	if cfg.Reserve < 0 {
		return nil, fmt.Errorf("diskguard: reserve %d is negative", cfg.Reserve)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.Stat == nil {
		cfg.Stat = statfs
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	g := &Guard{cfg: cfg, log: lg.With("component", "diskguard"), failed: map[string]bool{}}
	for _, d := range cfg.Dirs {
		if !slices.ContainsFunc(g.dirs, func(s DirStatus) bool { return s.Dir == d }) {
			g.dirs = append(g.dirs, DirStatus{Dir: d})
		}
	}
	_ = g.Check()
	return g, nil
}

// Reserve is the free space below which the disk counts as full.
func (g *Guard) Reserve() int64 { return g.cfg.Reserve }

// Full reports whether some watched directory was below the reserve at
// the last look. It is one atomic load: the data plane asks on every
// request.
func (g *Guard) Full() bool { return g.full.Load() }

// Err is the reason the disk is full as of the last look, or nil.
func (g *Guard) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.errLocked()
}

func (g *Guard) errLocked() error {
	for _, d := range g.dirs {
		if d.Full {
			return &FullError{Dir: d.Dir, Free: d.Free, Reserve: g.cfg.Reserve}
		}
	}
	return nil
}

// Check measures every directory now and answers as Err would after it.
// Writers about to write call it for a look no older than their write.
func (g *Guard) Check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.dirs {
		d := &g.dirs[i]
		free, err := g.cfg.Stat(d.Dir)
		if err != nil {
			// Not knowing is not full: a stat that fails keeps the last
			// measurement, and says so once.
			if !g.failed[d.Dir] {
				g.log.Warn("cannot measure free disk space; keeping the last measurement", "dir", d.Dir, "err", err)
				g.failed[d.Dir] = true
			}
			d.Err = err.Error()
			continue
		}
		if g.failed[d.Dir] {
			g.log.Info("free disk space measurable again", "dir", d.Dir)
			delete(g.failed, d.Dir)
		}
		d.Free, d.Full, d.Err = free, free < g.cfg.Reserve, ""
	}
	err := g.errLocked()
	full := err != nil
	if g.full.Swap(full) != full {
		var fe *FullError
		if errors.As(err, &fe) {
			g.log.Error("disk below its reserve: refusing new work until space is freed",
				"dir", fe.Dir, "free_bytes", fe.Free, "reserve_bytes", fe.Reserve)
		} else {
			g.log.Info("disk has room again: taking work", "reserve_bytes", g.cfg.Reserve)
		}
	}
	return err
}

// Status lists the watched directories as last measured.
func (g *Guard) Status() []DirStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.dirs)
}

// Run measures every interval until ctx ends.
func (g *Guard) Run(ctx context.Context) {
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = g.Check()
		}
	}
}

// WaitRoom returns once no directory is below the reserve (at once if
// none is), or with ctx's error. It takes its own looks, so it does not
// need Run.
func (g *Guard) WaitRoom(ctx context.Context) error {
	if g.Check() == nil {
		return nil
	}
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if g.Check() == nil {
				return nil
			}
		}
	}
}

var (
	descFree    = prometheus.NewDesc("tensorgate_disk_free_bytes", "Bytes free on the filesystem of each directory the node writes to, as last measured.", []string{"dir"}, nil)
	descFull    = prometheus.NewDesc("tensorgate_disk_full", "1 while some directory the node writes to has less free space than the reserve.", nil, nil)
	descReserve = prometheus.NewDesc("tensorgate_disk_reserve_bytes", "Free space below which the node stops taking work it could not record.", nil, nil)
)

// Describe implements prometheus.Collector.
func (g *Guard) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFree
	ch <- descFull
	ch <- descReserve
}

// Collect implements prometheus.Collector.
func (g *Guard) Collect(ch chan<- prometheus.Metric) {
	for _, d := range g.Status() {
		ch <- prometheus.MustNewConstMetric(descFree, prometheus.GaugeValue, float64(d.Free), d.Dir)
	}
	full := 0.0
	if g.Full() {
		full = 1
	}
	ch <- prometheus.MustNewConstMetric(descFull, prometheus.GaugeValue, full)
	ch <- prometheus.MustNewConstMetric(descReserve, prometheus.GaugeValue, float64(g.cfg.Reserve))
}
