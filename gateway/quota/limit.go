package quota

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// limit is this node's side of one quota: the units it may spend without
// asking (balance), what it spent since its last report, and what the
// cluster said at the last sync.
type limit struct {
	id    limitID
	key   string
	scope string // fsm.ScopeKey or fsm.ScopeOrg
	kind  string
	// scopeIdx and kindIdx index scopes and kinds (the metrics).
	scopeIdx, kindIdx uint8
	// word holds the balance (what requests may take now) in its low 48
	// bits and the lease generation in its high 16, so a take, a give-back
	// and the end of a lease are each one compare-and-swap: units taken
	// under a generation always go back to it. Reservations take and
	// settlements give back; the balance may go below zero when real usage
	// beat an estimate (a debt the next report carries).
	word atomic.Int64
	// validUntil is when, by this node's clock, the current lease may no
	// longer be spent (Unix nanoseconds; 0: none): before the cluster can
	// write it off, whatever the lag of the sync that renewed it.
	validUntil atomic.Int64
	// lease is the cluster's id of the current lease; the sync goroutine
	// alone writes it, set before the grant's units can be taken, so a
	// spend names the lease its units came from.
	lease atomic.Uint64
	// spent is consumption of the current lease not yet reported.
	spent atomic.Int64
	// old is the lease before the current generation: it ran out here,
	// and what its requests spent and hand back goes to the cluster under
	// its id, so a write-off of it is settled (refunded) exactly.
	old oldLease
	// inUse counts concurrency slots taken and not yet released.
	inUse atomic.Int64
	// open counts admitted requests not yet settled, of any kind; a
	// limit is forgotten only when none is open.
	open atomic.Int64
	// pruned is set when the manager forgot this limit; a request that
	// still holds it looks the limit up again.
	pruned atomic.Bool
	// Known from the last sync.
	max       atomic.Int64 // the limit; 0 once it is gone
	available atomic.Int64 // left in the cluster after our grant
	// freesAt is when the window's oldest unit leaves it (RPM, TPM) or
	// the budget period ends, Unix nanoseconds of the quota clock.
	freesAt atomic.Int64
	// demand counts units asked for since the last sync, for sizing.
	demand atomic.Int64
	// waiting is the units of requests blocked on this limit now; every
	// sync asks for at least that much.
	waiting atomic.Int64
	// unit is the size of the last request that waited: leases are asked
	// for in whole requests, so no node is left holding a crumb too small
	// for the next call (budgets, TPM).
	unit     atomic.Int64
	rate     atomic.Int64 // units per second, smoothed
	lastUsed atomic.Int64 // Unix nanoseconds
	lastSync atomic.Int64 // Unix nanoseconds of the last sync that carried it
}

// oldLease collects what is still owed to a lease that ran out locally.
type oldLease struct {
	mu     sync.Mutex
	gen    uint16
	lease  uint64
	spent  int64
	ret    int64
	unsent bool
}

const balanceBits = 48

func unpack(w int64) (gen uint16, bal int64) {
	return uint16(uint64(w) >> balanceBits), w << (64 - balanceBits) >> (64 - balanceBits)
}

func pack(gen uint16, bal int64) int64 {
	return int64(uint64(gen)<<balanceBits | uint64(bal)&(1<<balanceBits-1))
}

// balance is what requests may take now.
func (l *limit) balance() int64 {
	_, b := unpack(l.word.Load())
	return b
}

// gen is the current lease generation.
func (l *limit) gen() uint16 {
	g, _ := unpack(l.word.Load())
	return g
}

// take removes n units from the balance if it holds them, and says under
// which generation.
func (l *limit) take(n int64) (uint16, bool) {
	for {
		w := l.word.Load()
		g, b := unpack(w)
		if b < n {
			return g, false
		}
		if l.word.CompareAndSwap(w, pack(g, b-n)) {
			return g, true
		}
	}
}

// add changes the current generation's balance by n (grants, debts).
func (l *limit) add(n int64) {
	for {
		w := l.word.Load()
		g, b := unpack(w)
		if l.word.CompareAndSwap(w, pack(g, b+n)) {
			return
		}
	}
}

// swapBalance sets the balance from old to new, if it still is old.
func (l *limit) swapBalance(old, new int64) bool {
	w := l.word.Load()
	g, b := unpack(w)
	return b == old && l.word.CompareAndSwap(w, pack(g, new))
}

// give hands n units taken under gen back: to the balance while that
// lease lasts, else to what the old lease returns to the cluster. A debt
// (n < 0) of an old lease is already in what it spent.
func (l *limit) give(gen uint16, n int64) {
	for {
		w := l.word.Load()
		g, b := unpack(w)
		if g != gen {
			break
		}
		if l.word.CompareAndSwap(w, pack(g, b+n)) {
			return
		}
	}
	if n > 0 {
		l.old.owe(gen, 0, n)
	}
}

// spend counts n units consumed under gen, and says under which lease
// they are reported (0: none, its lease is gone).
func (l *limit) spend(gen uint16, n int64) uint64 {
	if l.gen() == gen {
		l.spent.Add(n)
		return l.lease.Load()
	}
	return l.old.owe(gen, n, 0)
}

// owe adds to what lease generation gen reports, if it is the old lease
// still, and returns that lease's id; older ones are gone (what they
// held stays counted as spent).
func (o *oldLease) owe(gen uint16, spent, ret int64) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gen == gen && o.lease != 0 {
		o.spent += spent
		o.ret += ret
		o.unsent = true
		return o.lease
	}
	return 0
}

// expire ends the current lease here: its balance goes back unspent and
// what it spent is reported under its id. Called by the sync goroutine.
func (l *limit) expire() {
	var (
		g uint16
		b int64
	)
	for {
		w := l.word.Load()
		g, b = unpack(w)
		if l.word.CompareAndSwap(w, pack(g+1, 0)) {
			break
		}
	}
	l.validUntil.Store(0)
	l.available.Store(-1) // what the cluster has left changes with the report
	l.old.mu.Lock()
	l.old.gen, l.old.lease = g, l.lease.Load()
	l.old.spent, l.old.ret = l.spent.Swap(0), max(0, b)
	l.old.unsent = l.old.lease != 0
	l.old.mu.Unlock()
	l.lease.Store(0)
}

// oldItem is the report owed to the old lease, if any.
func (l *limit) oldItem() (fsm.QuotaSyncItem, bool) {
	l.old.mu.Lock()
	defer l.old.mu.Unlock()
	if !l.old.unsent {
		return fsm.QuotaSyncItem{}, false
	}
	it := fsm.QuotaSyncItem{Key: l.key, Lease: l.old.lease, Spent: l.old.spent, Return: l.old.ret}
	l.old.spent, l.old.ret, l.old.unsent = 0, 0, false
	return it, true
}

// valid reports whether the lease may be spent at now.
func (l *limit) valid(now int64) bool { return now < l.validUntil.Load() }

// retryAfter is how long a refused caller should wait, at now on the
// quota clock: until the oldest
// unit in the window leaves it (what this node admitted but has not
// reported counts from its report on), plus a sync's lag. For a budget,
// until its period ends if that is within budgetRetryHorizon, else none.
func (l *limit) retryAfter(now time.Time, lag time.Duration) time.Duration {
	f := time.Duration(l.freesAt.Load() - now.UnixNano())
	switch l.kind {
	case fsm.KindRPM, fsm.KindTPM:
		switch {
		case f > 0:
			return f + lag
		case l.spent.Load() > 0:
			return fsm.QuotaWindow + lag
		}
		return max(lag, time.Second)
	case fsm.KindBudget:
		if l.freesAt.Load() != 0 && f > 0 && f <= budgetRetryHorizon {
			return f
		}
		return 0
	}
	return time.Second
}

// budgetRetryHorizon is how soon a budget period must end for its refusal
// to carry a Retry-After; later, a retry is pointless.
const budgetRetryHorizon = time.Minute
