package usage

import (
	"context"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

// Counters answers usage queries from the replicated counters: the whole
// cluster's usage, read on any node, without Postgres. Counters are
// hourly, so a range is widened to whole hours; after
// fsm.UsageHourRetention they are daily (UTC), and an older range is
// widened to whole days.
type Counters struct {
	State Viewer
}

// Usage sums the counters that q selects.
func (c *Counters) Usage(ctx context.Context, q event.UsageQuery) (*event.UsageReport, error) {
	r := event.NewReport(q, "cluster")
	c.State.View().UsageRows(q.From, q.To, func(row fsm.UsageRow) {
		d := row.UsageDims
		if (q.OrgID != "" && d.Org != q.OrgID) || !q.MatchKey(d.Key) ||
			(q.Model != "" && d.Model != q.Model) || (q.Capability != "" && d.Capability != q.Capability) {
			return
		}
		n := row.UsageCount
		t := event.Totals{Requests: n.Requests, Errors: n.Errors, CostMicros: map[string]int64{d.Currency: n.CostMicros}, LatencyMSTotal: n.LatencyMS}
		to, from := t.Figures(), n.Figures()
		for i := range to {
			*to[i] = *from[i]
		}
		r.Add(time.Unix(row.Start, 0), group(q.GroupBy, d), t)
	})
	return r.Done(), ctx.Err()
}

func group(by string, d fsm.UsageDims) string {
	switch by {
	case "org":
		return d.Org
	case "key":
		return d.Key
	case "model":
		return d.Model
	case "capability":
		return d.Capability
	case "provider":
		return d.Provider
	}
	return ""
}

// Store answers the admin API without Postgres: usage from the cluster's
// counters, audit events from this node's outbox.
type Store struct {
	*Counters
	*event.Local
}

// Usage resolves the ambiguity between the two embedded stores.
func (s Store) Usage(ctx context.Context, q event.UsageQuery) (*event.UsageReport, error) {
	return s.Counters.Usage(ctx, q)
}
