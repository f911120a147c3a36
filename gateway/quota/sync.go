package quota

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// Run syncs every Interval, and at once when a request waits for
// capacity, until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	tick := time.NewTicker(m.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-m.kick:
		}
		m.SyncOnce(ctx)
	}
}

// SyncOnce reports consumption, hands back idle units and asks for what
// the recent rate needs, in one command for every limit.
func (m *Manager) SyncOnce(ctx context.Context) {
	m.running.Lock()
	defer m.running.Unlock()
	defer m.signal()
	if !m.recounted {
		if !m.recount(ctx) {
			return
		}
		m.recounted = true
	}
	m.expire(m.cfg.Now())
	if m.pending != nil {
		if !m.send(ctx) {
			return
		}
	}
	now := m.cfg.Now()
	items, lims := m.collect(now)
	if len(items) == 0 {
		m.lastOK.Store(now.UnixNano())
		return
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	m.pending = &fsm.Command{Type: fsm.TypeQuotaSync, ID: "q" + hex.EncodeToString(id[:]), Time: now,
		Body: fsm.QuotaSyncBody{Node: m.cfg.Node, TTL: m.cfg.TTL, Items: items, Mark: m.mark()}}
	m.pendingLims = lims
	m.send(ctx)
}

// send commits the pending sync. On failure it stays pending and goes
// again, under the same id, so it is applied exactly once.
func (m *Manager) send(ctx context.Context) bool {
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	start := time.Now()
	res, err := fsm.Propose[fsm.QuotaGrants](actx, m.apply, *m.pending)
	cancel()
	if err != nil {
		m.metrics.syncs.WithLabelValues("failed").Inc()
		if ctx.Err() == nil {
			m.log.Warn("quota sync failed; spending what this node holds", "err", err)
		}
		return false
	}
	now := m.cfg.Now()
	grants := *res
	if len(grants) > 0 && !grants[0].At.IsZero() {
		m.ahead.Store(int64(grants[0].At.Sub(now)))
	}
	for i, g := range grants {
		if i >= len(m.pendingLims) {
			break
		}
		l := m.pendingLims[i]
		l.lastSync.Store(now.UnixNano())
		l.lease.Store(g.Lease)
		l.add(g.Granted)
		l.validUntil.Store(m.validUntil(g))
		l.max.Store(g.Limit)
		l.available.Store(g.Available)
		var frees int64
		if !g.FreesAt.IsZero() {
			frees = g.FreesAt.UnixNano()
		}
		l.freesAt.Store(frees)
	}
	m.pending, m.pendingLims = nil, nil
	m.lastOK.Store(now.UnixNano())
	m.commands.Add(1)
	m.metrics.syncs.WithLabelValues("ok").Inc()
	m.metrics.syncSeconds.Observe(time.Since(start).Seconds())
	return true
}

// validUntil is until when this node may spend the lease g left it, by
// its own clock: the lease's life as the cluster counts it (Expires-At),
// from when this node first sent the sync, less a margin for the clocks'
// rates. The cluster counts from when it applied the sync, never sooner,
// so the node stops before the cluster could write the lease off, however
// late the sync was applied, and whatever the offset of the clocks.
func (m *Manager) validUntil(g fsm.QuotaGrant) int64 {
	if g.Held <= 0 {
		return 0
	}
	life := m.cfg.TTL // a leader from before grants said when
	if !g.At.IsZero() {
		life = g.Expires.Sub(g.At)
	}
	return m.pending.Time.Add(life - life/50).UnixNano()
}

// expire ends, by this node's clock, the leases that may no longer be
// spent: their balance goes back to the cluster with the next sync.
func (m *Manager) expire(now time.Time) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, l := range m.limits {
		if v := l.validUntil.Load(); v != 0 && now.UnixNano() >= v {
			l.expire()
		}
	}
}

func (m *Manager) signal() {
	m.syncMu.Lock()
	close(m.synced)
	m.synced = make(chan struct{})
	m.syncMu.Unlock()
}

// collect builds this sync's items: spent since the last report, idle
// units to hand back and units to ask for (see DESIGN.md, Sizing).
func (m *Manager) collect(now time.Time) ([]fsm.QuotaSyncItem, []*limit) {
	var b syncBatch
	for _, l := range m.snapshot() {
		m.collectOne(&b, l, now)
	}
	if len(b.items) > 0 {
		b.addLateReports() // a command goes anyway: every pending report rides along
	}
	m.forget(b.quiet, now)
	return b.items, b.lims
}

// syncBatch is what collect gathers: the items of the next sync and the
// limit each answers to, and the limits that had nothing urgent to say.
type syncBatch struct {
	items []fsm.QuotaSyncItem
	lims  []*limit
	later []*limit // nothing urgent: they report only if a command goes
	quiet []*limit // candidates for forget
}

func (b *syncBatch) add(it fsm.QuotaSyncItem, l *limit) {
	b.items = append(b.items, it)
	b.lims = append(b.lims, l)
}

// addLateReports adds what the limits in later spent, unreported.
func (b *syncBatch) addLateReports() {
	for _, l := range b.later {
		if sp := l.spent.Swap(0); sp > 0 {
			b.add(fsm.QuotaSyncItem{Key: l.key, Spent: sp, Lease: l.lease.Load()}, l)
		}
	}
}

// snapshot lists the limits the manager tracks now.
func (m *Manager) snapshot() []*limit {
	m.mu.RLock()
	defer m.mu.RUnlock()
	all := make([]*limit, 0, len(m.limits))
	for _, l := range m.limits {
		all = append(all, l)
	}
	return all
}

// collectOne adds l's part of the sync to b: what its old lease still
// owes, and a report, a top-up or a hand-back when one is due.
func (m *Manager) collectOne(b *syncBatch, l *limit, now time.Time) {
	d := l.demand.Swap(0)
	waiting := l.waiting.Load()
	idle := d == 0 && waiting == 0 && now.UnixNano()-l.lastUsed.Load() > int64(2*time.Second)
	target := m.target(l, d, waiting, idle)
	bal := l.clearDebt()
	due := now.UnixNano()-l.lastSync.Load() >= int64(m.cfg.ReportEvery)
	want, ret := l.resize(bal, target, waiting > 0, due, idle)
	held := bal > 0 || l.inUse.Load() > 0
	if it, ok := l.oldItem(); ok {
		b.add(it, l)
	}
	if want == 0 && ret == 0 && !(due && (held || l.spent.Load() > 0)) {
		if !held && l.spent.Load() == 0 && now.UnixNano()-l.lastUsed.Load() > int64(forgetAfter) {
			b.quiet = append(b.quiet, l)
		}
		b.later = append(b.later, l)
		return // nothing that cannot wait
	}
	b.add(fsm.QuotaSyncItem{Key: l.key, Spent: l.spent.Swap(0), Return: ret, Want: want, Lease: l.lease.Load()}, l)
}

// target is the balance l should hold after this sync, given d units of
// demand since the last one and the units waiting now: about one horizon
// of its smoothed rate (which it updates), never less than was just asked
// for or waits, in whole requests, never more than the limit; nothing
// when idle.
func (m *Manager) target(l *limit, d, waiting int64, idle bool) int64 {
	perSecond := float64(time.Second) / float64(m.cfg.Interval)
	rate := (l.rate.Load()*3 + int64(float64(d)*perSecond)) / 4
	l.rate.Store(rate)
	horizon := m.cfg.Horizon
	if l.kind == fsm.KindConcurrency {
		horizon = 2 * m.cfg.Interval // slots: cover the starts until the next sync
	}
	target := rate * int64(horizon) / int64(time.Second)
	if d > 0 {
		target = max(target, d) // at least what was just asked for
	}
	target = max(target, waiting) // and what requests wait for now
	if u := l.unit.Load(); u > 1 {
		target = (target + u - 1) / u * u
	}
	if mx := l.max.Load(); mx > 0 {
		target = min(target, mx)
	}
	if idle {
		target = 0
	}
	return target
}

// clearDebt returns l's balance, set to zero first if it was negative:
// real usage beat a reservation, and the excess is in spent, where the
// cluster counts it.
func (l *limit) clearDebt() int64 {
	bal := l.balance()
	if bal < 0 && l.swapBalance(bal, 0) {
		bal = 0
	}
	return bal
}

// resize decides how far to move l's balance bal toward target: top up
// at the low watermark (half the target), when requests wait, or with a
// report that is due anyway; hand back a surplus when idle or above twice
// the target (taken from the balance here, unless a request took units
// meanwhile). Otherwise it stays quiet, so a steady node costs about one
// command a report interval.
func (l *limit) resize(bal, target int64, waiting, due, idle bool) (want, ret int64) {
	switch {
	case bal < target && (bal <= target/2 || waiting || due):
		want = target - bal
	case bal > target && (idle || bal > 2*target):
		if l.swapBalance(bal, target) {
			ret = bal - target
		}
	}
	return want, ret
}

// forgetAfter is how long a limit holds nothing and sees no request
// before the node forgets it, so key churn does not grow the manager.
const forgetAfter = 10 * time.Minute

// forget drops limits that stayed quiet, unless a request came or is
// still open since collect looked.
func (m *Manager) forget(quiet []*limit, now time.Time) {
	if len(quiet) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range quiet {
		if l.open.Load() != 0 || l.balance() != 0 || l.spent.Load() != 0 || now.UnixNano()-l.lastUsed.Load() <= int64(forgetAfter) {
			continue
		}
		if m.limits[l.id] == l {
			l.pruned.Store(true)
			delete(m.limits, l.id)
		}
	}
}
