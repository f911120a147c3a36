package quota

import (
	"context"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// Request is what one data-plane request asks of its limits.
type Request struct {
	Key    *fsm.Key
	Policy *fsm.Policy // the key's org's, or nil
	// Tokens is reserved against TPM limits: the prompt estimate plus
	// max_tokens. Cost is reserved against budgets, in micro-units.
	Tokens int64
	Cost   int64
}

func (t *Ticket) add(l *limit, units int64) {
	if t.n < len(t.needs) {
		t.needs[t.n] = need{l: l, units: units}
		t.n++
	}
}

func (t *Ticket) collect(m *Manager, r Request) {
	add := func(scope uint8, id string, lim fsm.Limits) {
		if lim.RPM > 0 {
			t.add(m.get(limitID{scope, kRPM, id}), 1)
		}
		if lim.TPM > 0 {
			t.add(m.get(limitID{scope, kTPM, id}), max(1, r.Tokens))
		}
		if lim.Concurrency > 0 {
			t.add(m.get(limitID{scope, kConc, id}), 1)
		}
		if lim.Budget > 0 && r.Cost > 0 {
			t.add(m.get(limitID{scope, kBudget, id}), r.Cost)
		}
	}
	add(0, r.Key.ID, r.Key.Limits)
	if r.Policy != nil {
		add(1, r.Key.OrgID, r.Policy.Limits)
	}
}

// takeAll takes every need's units or none; it returns the index of the
// need that could not be met, or -1. Units count as taken at now, read
// after the take, and only from leases still valid then: a node that was
// paused between its check and its take, or past its lease, does not
// spend a lease the cluster may have written off.
func (t *Ticket) takeAll(now func() time.Time) (int, time.Time) {
	for i := 0; i < t.n; i++ {
		nd := &t.needs[i]
		g, ok := nd.l.take(nd.units)
		if !ok {
			t.giveBack(i)
			return i, now()
		}
		nd.gen = g
	}
	at := now()
	for i := 0; i < t.n; i++ {
		if !t.needs[i].l.valid(at.UnixNano()) {
			t.giveBack(t.n)
			return i, at
		}
	}
	return -1, at
}

// giveBack returns the units of the first n needs.
func (t *Ticket) giveBack(n int) {
	for j := 0; j < n; j++ {
		t.needs[j].l.give(t.needs[j].gen, t.needs[j].units)
	}
}

// Admit checks a request against every limit of its key and org, all or
// nothing. With local balances that cover it, it is a few atomic
// operations; an empty balance while the cluster has room waits for the
// next sync, at most Config.Wait. Call Settle on the ticket when the
// request ends, whatever its outcome.
func (m *Manager) Admit(ctx context.Context, r Request) (Ticket, error) {
	t := Ticket{m: m}
	t.collect(m, r)
	if t.n == 0 {
		return t, nil
	}
	if failed, now := t.takeAll(m.cfg.Now); failed < 0 {
		t.admitted(now)
		return t, nil
	}
	return m.admitSlow(ctx, r.Policy, t, func(t *Ticket) { t.collect(m, r) })
}

// AdmitSlot takes one of an org's concurrency slots on a provider, the
// allocation its policy sets, waiting like Admit. Settle the ticket when
// the upstream call ends.
func (m *Manager) AdmitSlot(ctx context.Context, orgID, provider string, pol *fsm.Policy) (Ticket, error) {
	id := limitID{scope: 2, kind: kConc, id: fsm.AllocID(orgID, provider)}
	t := Ticket{m: m}
	t.add(m.get(id), 1)
	if failed, now := t.takeAll(m.cfg.Now); failed < 0 {
		t.admitted(now)
		return t, nil
	}
	return m.admitSlow(ctx, pol, t, func(t *Ticket) { t.add(m.get(id), 1) })
}

// admitSlow is Admit when a local balance fell short: the request waits
// for grants while the cluster has room, its units counted as waiting so
// every sync asks for them until it is admitted or gives up.
func (m *Manager) admitSlow(ctx context.Context, pol *fsm.Policy, t Ticket, recollect func(*Ticket)) (Ticket, error) {
	defer func() { t.unwait() }()
	var deadline time.Time
	synced := false
	for {
		failed, now := t.takeAll(m.cfg.Now)
		if failed < 0 {
			t.admitted(now)
			return t, nil
		}
		nd := t.needs[failed]
		if t.stale() {
			// A limit was forgotten while idle between the lookup and
			// now: look them all up again.
			t.unwait()
			t = Ticket{m: m}
			recollect(&t)
			continue
		}
		for i := 0; i < t.n; i++ {
			if l := t.needs[i].l; l.balance() < t.needs[i].units || !l.valid(now.UnixNano()) {
				t.book(i)
				t.await(i)
			}
		}
		if max := nd.l.max.Load(); max > 0 && nd.units > max {
			return Ticket{}, t.refusal(failed, now) // it can never fit
		}
		// Judged after one sync at least: a node back from a pause has
		// not synced for a while, and its first sync may just work.
		if synced && m.partitioned(now) {
			if m.failOpen(pol, now) {
				m.metrics.failOpen.Inc()
				t.force(now)
				return t, nil
			}
			m.metrics.unavailable.Inc()
			return Ticket{}, ErrUnavailable
		}
		if deadline.IsZero() {
			deadline = now.Add(m.cfg.Wait)
		}
		// Wait for grants while the cluster has room, up to Config.Wait.
		// After a sync, what the cluster said is fresh: nothing left
		// means a refusal now, not a wait for the deadline.
		if !now.Before(deadline) || synced && nd.l.available.Load() == 0 || nd.l.full(now, m.quotaNow(now)) {
			return Ticket{}, t.refusal(failed, now)
		}
		m.metrics.waited.Inc()
		if !m.awaitSync(ctx, deadline.Sub(now)) {
			return Ticket{}, ctx.Err()
		}
		synced = true
	}
}

// full reports whether the cluster had nothing left for this limit at
// the last sync, and nothing has changed that since as far as this node
// can tell: its lease has not run out (expire makes available unknown
// until the next sync) and the window's oldest units have not left yet.
func (l *limit) full(now, quotaNow time.Time) bool {
	if l.available.Load() != 0 || (l.validUntil.Load() != 0 && !l.valid(now.UnixNano())) {
		return false
	}
	return !l.windowed() || l.freesAt.Load() > quotaNow.UnixNano()
}

// quotaNow is now on the quota clock, as far as this node can tell.
func (m *Manager) quotaNow(now time.Time) time.Time { return now.Add(time.Duration(m.ahead.Load())) }

func (l *limit) windowed() bool { return l.kind == fsm.KindRPM || l.kind == fsm.KindTPM }

func (t *Ticket) refusal(i int, now time.Time) error {
	l := t.needs[i].l
	t.m.metrics.refused[l.scopeIdx][l.kindIdx].Inc()
	if t.m.cfg.OnRefuse != nil {
		t.m.cfg.OnRefuse(l.key)
	}
	return &Error{Kind: l.kind, Scope: l.scope, RetryAfter: l.retryAfter(t.m.quotaNow(now), t.m.cfg.Interval)}
}

// stale reports whether one of the ticket's limits was pruned.
func (t *Ticket) stale() bool {
	for i := 0; i < t.n; i++ {
		if t.needs[i].l.pruned.Load() {
			return true
		}
	}
	return false
}

// await counts need i's units as waiting on its limit, once.
func (t *Ticket) await(i int) {
	if t.waiting&(1<<i) == 0 {
		t.waiting |= 1 << i
		t.needs[i].l.waiting.Add(t.needs[i].units)
		t.needs[i].l.unit.Store(t.needs[i].units)
	}
}

// unwait takes the ticket's units off its limits' waiting counts.
func (t *Ticket) unwait() {
	for i := 0; i < t.n; i++ {
		if t.waiting&(1<<i) != 0 {
			t.needs[i].l.waiting.Add(-t.needs[i].units)
		}
	}
	t.waiting = 0
}

// book counts need i in its limit's demand, once per request however
// often the request waits, so the next sync sizes the lease from it.
func (t *Ticket) book(i int) {
	if t.booked&(1<<i) == 0 {
		t.booked |= 1 << i
		t.needs[i].l.demand.Add(t.needs[i].units)
	}
}

// admitted books what an admitted request consumed up front.
func (t *Ticket) admitted(now time.Time) {
	for i := 0; i < t.n; i++ {
		l := t.needs[i].l
		t.book(i)
		l.lastUsed.Store(now.UnixNano())
		l.open.Add(1)
		switch l.kind {
		case fsm.KindRPM:
			t.needs[i].lease = l.spend(t.needs[i].gen, 1)
		case fsm.KindConcurrency:
			l.inUse.Add(1)
		}
	}
}

// force admits without capacity in hand (fail_open during a partition):
// the units are taken anyway and reported once the quorum is back.
func (t *Ticket) force(now time.Time) {
	for i := 0; i < t.n; i++ {
		nd := &t.needs[i]
		nd.l.add(-nd.units)
		nd.gen = nd.l.gen()
	}
	t.admitted(now)
}

// Spend is what a request spent of one limit and the lease it was
// reported under: the request's record keeps it, so a node back from a
// crash can tell the cluster what each of its leases really paid for.
type Spend struct {
	Key   string
	Lease uint64
	Units int64
}

// Settle ends a request: TPM and budget reservations are replaced by the
// real usage (refunding the difference, or owing the excess), and
// concurrency slots are released. tokens and cost are what the request
// really used (0 when it failed before any upstream call). It returns
// what the request spent of each lease (RPM, TPM, budgets), for the
// request's durable record.
func (t *Ticket) Settle(tokens, cost int64) []Spend {
	var out []Spend
	add := func(nd need, lease uint64, units int64) {
		if lease != 0 && units > 0 {
			out = append(out, Spend{Key: nd.l.key, Lease: lease, Units: units})
		}
	}
	for i := 0; i < t.n; i++ {
		nd := t.needs[i]
		nd.l.open.Add(-1)
		switch nd.l.kind {
		case fsm.KindRPM:
			add(nd, nd.lease, 1)
		case fsm.KindTPM:
			add(nd, nd.l.spend(nd.gen, tokens), tokens)
			nd.l.give(nd.gen, nd.units-tokens)
		case fsm.KindBudget:
			add(nd, nd.l.spend(nd.gen, cost), cost)
			nd.l.give(nd.gen, nd.units-cost)
		case fsm.KindConcurrency:
			nd.l.inUse.Add(-1)
			nd.l.give(nd.gen, 1)
		}
	}
	t.n = 0
	return out
}

// partitioned reports whether syncs have failed for longer than a lease
// lives: this node can no longer count on the cluster.
func (m *Manager) partitioned(now time.Time) bool {
	last := m.lastOK.Load()
	return last != 0 && now.UnixNano()-last > int64(m.cfg.TTL)
}

// failOpen reports whether the org's policy admits for now without the
// quorum.
func (m *Manager) failOpen(p *fsm.Policy, now time.Time) bool {
	if p == nil || p.Partition != fsm.PartitionFailOpen || p.FailOpenSeconds <= 0 {
		return false
	}
	return now.UnixNano()-m.lastOK.Load() < int64(p.FailOpenSeconds)*int64(time.Second)
}

// awaitSync asks for a sync now and waits for it to finish, at most d.
func (m *Manager) awaitSync(ctx context.Context, d time.Duration) bool {
	m.syncMu.Lock()
	done := m.synced
	m.syncMu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
