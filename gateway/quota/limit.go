package quota

import (
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
	// balance is what requests may take now. Reservations take from it
	// and settlements give back; it may go below zero when real usage beat
	// an estimate (a debt the next report carries).
	balance atomic.Int64
	// spent is consumption not yet reported.
	spent atomic.Int64
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
	freesAt   atomic.Int64 // Unix nanoseconds when the window frees capacity
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

// take removes n units from the balance if it holds them.
func (l *limit) take(n int64) bool {
	for {
		b := l.balance.Load()
		if b < n {
			return false
		}
		if l.balance.CompareAndSwap(b, b-n) {
			return true
		}
	}
}

// retryAfter is how long a refused caller should wait.
func (l *limit) retryAfter(now time.Time) time.Duration {
	if l.kind == fsm.KindRPM || l.kind == fsm.KindTPM {
		if f := l.freesAt.Load(); f > now.UnixNano() {
			return time.Duration(f - now.UnixNano())
		}
	}
	return time.Second
}
