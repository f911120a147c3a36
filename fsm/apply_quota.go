package fsm

import (
	"time"
)

func init() {
	register(TypeQuotaSync, applyQuotaSync)
}

// QuotaSyncBody is a node's periodic quota exchange: what it spent and
// hands back since its last sync, and the units it asks for. One command
// carries every limit the node tracks, so raft sees a few commands per
// second per node, not one per request.
type QuotaSyncBody struct {
	Node string `json:"node"`
	// TTL is the life of the leases this command grants or renews.
	TTL   time.Duration   `json:"ttl"`
	Items []QuotaSyncItem `json:"items"`
	// Mark is where the node's durable record of spending stands as it
	// sends the sync; a lease this sync creates keeps it.
	Mark *RecordMark `json:"mark,omitempty"`
}

// QuotaSyncItem is one limit's part of a sync.
type QuotaSyncItem struct {
	Key string `json:"key"`
	// Spent is consumption since the last sync: requests (RPM), tokens
	// (TPM) or micro-units (budget). It may exceed the lease when real
	// usage beat the estimate; the excess is counted all the same.
	Spent int64 `json:"spent,omitempty"`
	// Return is units handed back unspent (idle slots, a shrinking lease).
	Return int64 `json:"return,omitempty"`
	// Want is the units asked for on top of what the node keeps.
	Want int64 `json:"want,omitempty"`
	// Lease names the lease Spent and Return belong to (zero: the node's
	// current one, as nodes from before lease ids say). A lease that ran
	// out and was written off is settled by it: what was spent stays
	// counted, what was returned is refunded; nothing is granted on it.
	Lease uint64 `json:"lease,omitempty"`
	// Recount says Spent is everything the node's durable record shows
	// spent of Lease over its life, not since its last report: a node
	// back from a crash or restart, its memory lost, settles its lease
	// with it. The cluster counts what it had not been told (Spent less
	// what was reported) and ends the lease, held or written off; the
	// rest returns (rule 6). A recount of a lease already ended changes
	// nothing, so sending it twice is safe.
	Recount bool `json:"recount,omitempty"`
}

// QuotaGrant answers one QuotaSyncItem.
type QuotaGrant struct {
	Key string `json:"key"`
	// Limit is the limit now in force; 0 means the limit is gone and the
	// node stops checking it.
	Limit   int64     `json:"limit"`
	Granted int64     `json:"granted"`
	Held    int64     `json:"held"` // the node's lease after this sync
	Expires time.Time `json:"expires"`
	// Lease names the node's lease after this sync; At is the quota time
	// the grant was computed at, so a node may spend the lease for
	// Expires-At from when it sent the sync, by its own clock, and never
	// past the moment the cluster writes the lease off.
	Lease uint64    `json:"lease,omitempty"`
	At    time.Time `json:"at"`
	// Available is what is left for any node after this grant.
	Available int64 `json:"available"`
	// FreesAt is when the window's oldest consumption leaves it; for a
	// budget, when its period ends (zero for a total budget).
	FreesAt time.Time `json:"frees_at"`
}

func (b *QuotaSyncBody) validate() error {
	if b.Node == "" {
		return invalid("node", "is required")
	}
	if b.TTL <= 0 || b.TTL > MaxLeaseTTL {
		return invalid("ttl", "must be positive and at most %v", MaxLeaseTTL)
	}
	for _, it := range b.Items {
		if _, _, _, ok := ParseQuotaKey(it.Key); !ok {
			return invalid("items.key", "%q is not a quota key", it.Key)
		}
		if it.Spent < 0 || it.Return < 0 || it.Want < 0 {
			return invalid("items", "spent, return and want must not be negative")
		}
	}
	return nil
}

func applyQuotaSync(next *State, c decoded, b QuotaSyncBody, index uint64) (*QuotaGrants, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	// The quota clock never runs backwards, whatever the proposers'
	// clocks say: consumption is never placed earlier than a report
	// already applied.
	now := c.Time
	if now.Before(next.QuotaClock) {
		now = next.QuotaClock
	}
	next.QuotaClock = now
	quotas := next.quotas.edit()
	// Leases of nodes that stopped syncing run out here, wherever they
	// are; only when one may have.
	if !next.quotaExpiry.IsZero() && !next.quotaExpiry.After(now) {
		var earliest time.Time
		for key, q := range quotas.All() {
			expired := false
			for _, l := range q.Leases {
				if !l.Expires.After(now) {
					expired = true
				} else {
					earliest = soonerExpiry(earliest, l.Expires)
				}
			}
			if expired {
				nq := q.clone()
				nq.advance(next.QuotaLimit(key), now)
				putQuota(quotas, nq)
			}
		}
		next.quotaExpiry = earliest
	}
	out := make([]QuotaGrant, len(b.Items))
	for i, it := range b.Items {
		spec := next.QuotaLimit(it.Key)
		g := QuotaGrant{Key: it.Key, Limit: spec.Limit}
		if spec.Limit == 0 {
			quotas.Delete(it.Key)
			out[i] = g
			continue
		}
		q := &Quota{Key: it.Key}
		if old, ok := quotas.Get(it.Key); ok {
			q = old.clone()
		}
		if q.Leases == nil {
			q.Leases = map[string]Lease{}
		}
		q.advance(spec, now)
		if !spec.leases() {
			// Builds from before lease ids ignore both: so does this one
			// until every server applies them.
			it.Lease, it.Recount = 0, false
		}
		l, held := q.Leases[b.Node]
		switch {
		case it.Recount && held && l.ID == it.Lease:
			// The node's lease, from before it restarted: it ends here.
			if spec.Kind != KindConcurrency {
				q.consume(spec, now, max(0, it.Spent-l.Reported))
			}
			delete(q.Leases, b.Node)
			l, held = Lease{}, false
		case it.Recount:
			if i := q.writeOff(b.Node, it.Lease); i >= 0 && spec.Kind != KindConcurrency {
				w := q.WriteOffs[i]
				q.consume(spec, now, q.settleWriteOff(spec, b.Node, it.Lease, max(0, it.Spent-w.Reported), w.Units))
			}
		case it.Lease != 0 && (!held || l.ID != it.Lease):
			// A report for a lease that is no longer the node's: it ran
			// out (the node was paused, cut off or restarted).
			if excess := q.settleWriteOff(spec, b.Node, it.Lease, it.Spent, it.Return); spec.Kind != KindConcurrency {
				q.consume(spec, now, excess)
			}
		default:
			if spec.Kind != KindConcurrency {
				q.consume(spec, now, it.Spent)
				if spec.leases() {
					l.Reported += it.Spent
				}
			}
			l.Units = max(0, l.Units-it.Spent-it.Return)
		}
		q.Leases[b.Node] = l
		g.Granted = min(it.Want, q.Available(spec, now))
		l.Units += g.Granted
		if l.Units > 0 {
			if spec.leases() && (l.ID == 0 || !held) {
				l.ID, l.Reported, l.Mark = index, 0, b.Mark
			}
			l.Expires = now.Add(b.TTL)
			q.Leases[b.Node] = l
			next.quotaExpiry = soonerExpiry(next.quotaExpiry, l.Expires)
		} else {
			delete(q.Leases, b.Node)
			l.ID = 0
		}
		g.Held, g.Expires, g.Lease, g.At = l.Units, l.Expires, l.ID, now
		g.Available, g.FreesAt = q.Available(spec, now), q.FreesAt(spec, now)
		if spec.Kind == KindBudget {
			g.FreesAt = BudgetPeriodEnd(spec.Period, now, spec.Loc)
		}
		putQuota(quotas, q)
		out[i] = g
	}
	next.quotas = quotas.done()
	grants := QuotaGrants(out)
	return &grants, nil
}

// settleWriteOff applies node's report for its lease id, which ran out:
// spent units stay counted (at the lease's expiry, where the write-off
// put them), returned units are taken back from the count, never more
// than the write-off holds. It returns the spent units the write-off did
// not cover, which count now; all of them when there is no such
// write-off (already settled, or too old to matter).
func (q *Quota) settleWriteOff(spec LimitSpec, node string, id uint64, spent, ret int64) int64 {
	i := q.writeOff(node, id)
	if i < 0 {
		return spent
	}
	w := &q.WriteOffs[i]
	kept := min(spent, w.Units)
	w.Units -= kept
	w.Reported += spent
	refund := min(ret, w.Units)
	w.Units -= refund
	q.Refunded += q.unconsume(spec, w.At, refund)
	if w.Units == 0 {
		q.WriteOffs = append(q.WriteOffs[:i], q.WriteOffs[i+1:]...)
	}
	return spent - kept
}

// putQuota stores q, or forgets it when it holds nothing.
func putQuota(m *cowEdit[string, *Quota], q *Quota) {
	if q.idle() {
		m.Delete(q.Key)
		return
	}
	m.Set(q.Key, q)
}

// soonerExpiry is the earlier of a bound on lease expiries (zero: no lease
// yet) and a lease's expiry.
func soonerExpiry(bound, expires time.Time) time.Time {
	if bound.IsZero() || expires.Before(bound) {
		return expires
	}
	return bound
}
