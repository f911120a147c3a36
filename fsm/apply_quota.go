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
	// Available is what is left for any node after this grant.
	Available int64 `json:"available"`
	// FreesAt is when the window's oldest consumption leaves it.
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

func applyQuotaSync(next *State, c decoded, index uint64) (any, error) {
	b := decodeBody[QuotaSyncBody](c)
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
		l := q.Leases[b.Node]
		if spec.Kind != KindConcurrency {
			q.consume(spec, now, it.Spent)
		}
		l.Units = max(0, l.Units-it.Spent-it.Return)
		q.Leases[b.Node] = l
		g.Granted = min(it.Want, q.Available(spec, now))
		l.Units += g.Granted
		if l.Units > 0 {
			l.Expires = now.Add(b.TTL)
			q.Leases[b.Node] = l
			next.quotaExpiry = soonerExpiry(next.quotaExpiry, l.Expires)
		} else {
			delete(q.Leases, b.Node)
		}
		g.Held, g.Expires = l.Units, l.Expires
		g.Available, g.FreesAt = q.Available(spec, now), q.FreesAt(now)
		putQuota(quotas, q)
		out[i] = g
	}
	next.quotas = quotas.done()
	return out, nil
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
