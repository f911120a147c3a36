package pgsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
	"golang.org/x/sync/errgroup"
)

// Queries answer the admin API's usage and audit questions from Postgres,
// so they cover every node's events.
type Queries struct {
	sink *Sink
}

// Queries returns the read side of the sink.
func (s *Sink) Queries() *Queries { return &Queries{sink: s} }

// where builds the WHERE clause of a filter over a table whose time is
// in timeCol, and appends its arguments to args (numbered after them).
// The daily, weekly and monthly rollups' time is a UTC date.
func where(f event.Filter, timeCol string, args []any) (string, []any) {
	var conds []string
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	for _, c := range [...]struct{ col, v string }{{"org_id", f.OrgID}, {"key_id", f.KeyID}, {"model", f.Model}, {"capability", f.Capability}} {
		if c.v != "" {
			add(c.col+" = $%d", c.v)
		}
	}
	if f.KeyIDs != nil {
		add("key_id = ANY($%d)", f.KeyIDs)
	}
	bound := func(op string, t time.Time) {
		if timeCol == "day" || timeCol == "week" || timeCol == "month" {
			add(timeCol+" "+op+" $%d::date", t.UTC().Format(time.DateOnly))
		} else {
			add(timeCol+" "+op+" $%d", t)
		}
	}
	if !f.From.IsZero() {
		bound(">=", f.From)
	}
	if !f.To.IsZero() {
		bound("<", f.To)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func midnight(t time.Time) bool { return t.IsZero() || t.Equal(event.BucketStart("day", t, time.UTC)) }

var groupColumn = map[string]string{"org": "org_id", "key": "key_id", "model": "model", "capability": "capability", "provider": "provider"}

// wholeHours reports whether t is a whole UTC hour (or open), and loc's
// offset at it is whole hours, so hour buckets there are UTC hours.
func wholeHours(t time.Time, loc *time.Location) bool {
	if t.IsZero() {
		t = time.Now()
	} else if t.Unix()%3600 != 0 || t.Nanosecond() != 0 {
		return false
	}
	_, off := t.In(loc).Zone()
	return off%3600 == 0
}

// usageSource picks the cheapest table that answers uq exactly: the
// hourly rollups (no key) when the range and the zone's buckets fall on
// whole hours, else for whole UTC days the daily rollups (per key when no
// model or capability is involved, and per key and month for whole UTC
// months without buckets), else the events themselves. It returns the table, its time column and the
// expressions of a row's requests and errors there.
func usageSource(uq event.UsageQuery) (table, timeCol, requests, errs string) {
	loc := uq.Location()
	if noKey(uq) && wholeHours(uq.From, loc) && wholeHours(uq.To, loc) {
		return "billing_hourly", "hour", "requests", "errors"
	}
	utc := loc == time.UTC || loc.String() == "UTC"
	if uq.Bucket != "hour" && (uq.Bucket == "" || utc) && uq.GroupBy != "provider" && midnight(uq.From) && midnight(uq.To) {
		switch {
		case perKey(uq) && uq.Bucket == "" && monthStart(uq.From) && monthStart(uq.To):
			return "billing_key_monthly", "month", "requests", "errors"
		case perKey(uq):
			return "billing_key_daily", "day", "requests", "errors"
		}
		return "billing_daily", "day", "requests", "errors"
	}
	return "audit_events", "time", "1", "(status >= 400)::int"
}

// Usage sums usage from the cheapest table that answers it exactly (see
// usageSource and rangeParts). With both buckets and groups, the series
// and the groups are two queries run at once, each from its own cheapest
// table (the series of a by-key report needs no key), rather than every
// bucket × group.
func (q *Queries) Usage(ctx context.Context, uq event.UsageQuery) (*event.UsageReport, error) {
	if uq.Bucket == "" {
		if parts := rangeParts(uq.Filter, keyRollups(uq), q.sink.opts.Now()); parts != nil {
			return q.usageInParts(ctx, uq, parts)
		}
	}
	if uq.Bucket == "" || uq.GroupBy == "" {
		r := event.NewReport(uq, "postgres")
		if err := q.usage(ctx, uq, nil, r.Add); err != nil {
			return nil, err
		}
		return r.Done(), nil
	}
	seriesQ, groupsQ := uq, uq
	seriesQ.GroupBy, groupsQ.Bucket = "", ""
	series := event.NewReport(seriesQ, "postgres")
	var groups *event.UsageReport
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return q.usage(gctx, seriesQ, nil, series.Add) })
	g.Go(func() (err error) { groups, err = q.Usage(gctx, groupsQ); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := series.Done()
	out.GroupBy, out.Groups = uq.GroupBy, groups.Groups
	return out, nil
}

// A piece of a range, read from one table and added to the sum or, when
// less, taken from it. unit is "day", "week" or "month" for the per-key
// rollups of those spans; empty, the table usageSource picks for the
// piece's range.
type piece struct {
	from, to time.Time
	unit     string
	less     bool
}

// A part is the pieces read in one statement, so the ones taken away come
// from the same snapshot as the ones they are taken from.
type part []piece

// rangeParts splits a range that does not start or end on a UTC midnight
// into its partial days at the edges and its whole UTC days, so a query
// without buckets reads each part from the smallest rollup that answers
// it and the events only for the edges. Nil when there is nothing to
// gain.
//
// With keyUnits, the whole days are read from the per-key rollups of
// months, weeks of the month and days: each whole unit as one row per
// key, and each unit the range covers only in part either as the smaller
// units inside the range or as the whole unit less the smaller units
// outside it, whichever reads fewer rows. Only units that start before
// now's UTC midnight hold events, so later ones cost nothing; an open
// range ends there. A part is a run of whole months or one month's
// share, so the parts can be read at once.
func rangeParts(f event.Filter, keyUnits bool, now time.Time) []part {
	if f.From.IsZero() {
		return nil
	}
	today := ceilUTC("day", now) // the end of the days that hold events
	lo, hi := ceilUTC("day", f.From), today
	if !f.To.IsZero() {
		hi = floorUTC("day", f.To)
	}
	if !lo.Before(hi) {
		return nil
	}
	var parts []part
	edge := func(from, to time.Time) {
		if from.Before(to) {
			parts = append(parts, part{{from: from, to: to}})
		}
	}
	edge(f.From, lo)
	if keyUnits {
		for ms := floorUTC("month", lo); ms.Before(hi); ms = ms.AddDate(0, 1, 0) {
			share := cover(later(lo, ms), earlier(hi, ms.AddDate(0, 1, 0)), 0, today)
			if n := len(parts) - 1; len(share) == 1 && share[0].unit == "month" && n >= 0 && len(parts[n]) == 1 &&
				parts[n][0].unit == "month" && parts[n][0].to.Equal(ms) {
				parts[n][0].to = share[0].to // a run of whole months
				continue
			}
			parts = append(parts, share)
		}
	} else {
		edge(lo, hi)
	}
	switch {
	case !f.To.IsZero():
		edge(hi, f.To)
	case !keyUnits:
		// Open: today so far, and any event stamped ahead of this clock.
		parts[len(parts)-1][0].to = time.Time{}
	}
	if len(parts) == 1 && len(parts[0]) == 1 && parts[0][0].unit == "" {
		return nil
	}
	return parts
}

// units are the per-key rollups' spans, each nested in the one before.
var units = [...]string{"month", "week", "day"}

// cover returns pieces of units[level] and smaller whose sum is the usage
// of the whole days [a, b), reading as few rows as it can (see
// rangeParts). Pieces of a unit's share follow that unit.
func cover(a, b time.Time, level int, today time.Time) []piece {
	unit := units[level]
	if unit == "day" {
		return []piece{{from: a, to: b, unit: "day"}}
	}
	var out []piece
	for s := unitStart(unit, a); s.Before(b); s = unitEnd(unit, s) {
		e := unitEnd(unit, s)
		x, y := later(a, s), earlier(b, e)
		if x.Equal(s) && y.Equal(e) {
			if n := len(out) - 1; n >= 0 && out[n].unit == unit && !out[n].less && out[n].to.Equal(s) {
				out[n].to = e
			} else {
				out = append(out, piece{from: s, to: e, unit: unit})
			}
			continue
		}
		inside := cover(x, y, level+1, today)
		whole := []piece{{from: s, to: e, unit: unit}}
		for _, r := range [][2]time.Time{{s, x}, {y, e}} {
			if r[0].Before(r[1]) {
				for _, p := range cover(r[0], r[1], level+1, today) {
					p.less = !p.less
					whole = append(whole, p)
				}
			}
		}
		if rows(whole, today) < rows(inside, today) {
			inside = whole
		}
		out = append(out, inside...)
	}
	return out
}

// rows is how many rows per key the pieces read: the units in each that
// start before today.
func rows(ps []piece, today time.Time) int {
	n := 0
	for _, p := range ps {
		for s := p.from; s.Before(p.to) && s.Before(today); s = unitEnd(p.unit, s) {
			n++
		}
	}
	return n
}

// unitStart is the start of the day, week of the month (from the 1st,
// 8th, 15th, 22nd or 29th) or month that t is in, in UTC; unitEnd the
// start of the next one after the one starting at s.
func unitStart(unit string, t time.Time) time.Time {
	if unit == "week" {
		d := floorUTC("day", t)
		return d.AddDate(0, 0, -(d.Day()-1)%7)
	}
	return floorUTC(unit, t)
}

func unitEnd(unit string, s time.Time) time.Time {
	switch unit {
	case "month":
		return s.AddDate(0, 1, 0)
	case "week":
		return earlier(s.AddDate(0, 0, 7), floorUTC("month", s).AddDate(0, 1, 0))
	}
	return s.AddDate(0, 0, 1)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// floorUTC is the start of t's UTC day or month; ceilUTC the first start
// at or after t.
func floorUTC(unit string, t time.Time) time.Time {
	t = t.UTC()
	if unit == "month" {
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func ceilUTC(unit string, t time.Time) time.Time {
	s := floorUTC(unit, t)
	if !s.Before(t) {
		return s
	}
	if unit == "month" {
		return s.AddDate(0, 1, 0)
	}
	return s.AddDate(0, 0, 1)
}

// perKey reports whether the per-key rollups can answer uq: no model or
// capability in its filter or grouping, and no provider grouping.
func perKey(uq event.UsageQuery) bool {
	return uq.Model == "" && uq.Capability == "" && uq.GroupBy != "model" && uq.GroupBy != "capability" && uq.GroupBy != "provider"
}

// keyRollups reports whether uq is answered from the per-key rollups: it
// involves keys and they can answer it.
func keyRollups(uq event.UsageQuery) bool { return perKey(uq) && !noKey(uq) }

// noKey reports whether uq neither filters nor groups by key.
func noKey(uq event.UsageQuery) bool {
	return uq.KeyID == "" && uq.KeyIDs == nil && uq.GroupBy != "key"
}

// monthStart reports whether t is open or the first instant of a UTC month.
func monthStart(t time.Time) bool { return t.IsZero() || t.Equal(floorUTC("month", t)) }

// usageInParts answers a query without buckets as the sum of its parts,
// asked at once.
func (q *Queries) usageInParts(ctx context.Context, uq event.UsageQuery, parts []part) (*event.UsageReport, error) {
	r := event.NewReport(uq, "postgres")
	var mu sync.Mutex
	add := func(at time.Time, group string, t event.Totals) {
		mu.Lock()
		r.Add(at, group, t)
		mu.Unlock()
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		g.Go(func() error { return q.usage(gctx, uq, p, add) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return r.Done(), nil
}

// pieceTables are the per-key rollups of each unit and their time column.
var pieceTables = map[string][2]string{
	"day": {"billing_key_daily", "day"}, "week": {"billing_key_weekly", "week"}, "month": {"billing_key_monthly", "month"},
}

// usage answers a query with buckets or groups (or neither) in one
// statement, passing each row to add. Given pieces (and no buckets), it
// sums those instead of uq's range; groups left with no requests by the
// pieces taken away are dropped.
func (q *Queries) usage(ctx context.Context, uq event.UsageQuery, pieces part, add func(time.Time, string, event.Totals)) error {
	bucket, group := "NULL::timestamptz", "''"
	if uq.GroupBy != "" {
		group = groupColumn[uq.GroupBy]
	}
	sums := sums // the package's, replaced below by what this query sums
	var from, having, timeCol string
	var args []any
	if pieces == nil {
		table, col, requests, errs := usageSource(uq)
		var cond string
		cond, args = where(uq.Filter, col, nil)
		from, timeCol, sums = table+cond, col, append([]string{requests, errs}, sums...)
	} else {
		if uq.Bucket != "" {
			return errors.New("query usage: a range in pieces has no buckets")
		}
		selects := make([]string, len(pieces))
		for i, p := range pieces {
			pq := uq
			pq.From, pq.To = p.from, p.to
			var table, col, requests, errs string
			if t, ok := pieceTables[p.unit]; ok {
				table, col, requests, errs = t[0], t[1], "requests", "errors"
			} else {
				table, col, requests, errs = usageSource(pq)
			}
			var cond string
			cond, args = where(pq.Filter, col, args)
			sign := ""
			if p.less {
				sign, having = "-", " HAVING tensorgate_sum(s0::bigint) <> 0"
			}
			selects[i] = signed(table+cond, group, append([]string{requests, errs}, sums...), sign)
		}
		named := make([]string, len(sums)+2)
		for i := range named {
			named[i] = fmt.Sprintf("s%d", i)
		}
		from, group, sums = "("+strings.Join(selects, " UNION ALL ")+") u", "g", named
	}
	switch {
	case uq.Bucket == "":
	case timeCol == "day":
		bucket = "day::timestamp AT TIME ZONE 'UTC'"
	default:
		// Buckets start on the wall clock of the query's zone.
		args = append(args, uq.Location().String())
		bucket = fmt.Sprintf("date_trunc('%s', %s AT TIME ZONE $%d) AT TIME ZONE $%d", uq.Bucket, timeCol, len(args), len(args))
	}
	summed := make([]string, len(sums))
	for i, c := range sums {
		summed[i] = "tensorgate_sum((" + c + ")::bigint)"
	}
	rows, err := q.sink.pool.Query(ctx, `SELECT `+bucket+`, `+group+`, currency, `+strings.Join(summed, ", ")+
		` FROM `+from+` GROUP BY 1, 2, 3`+having, args...)
	if err != nil {
		return fmt.Errorf("query usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			at       *time.Time
			key, cur string
			t        event.Totals
			cost     int64
		)
		dest := append(make([]any, 0, 7+fsm.NumUnits), &at, &key, &cur, &t.Requests, &t.Errors)
		for _, f := range t.Figures() {
			dest = append(dest, f)
		}
		if err := rows.Scan(append(dest, &cost, &t.LatencyMSTotal)...); err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		t.CostMicros = map[string]int64{cur: cost}
		var b time.Time
		if at != nil {
			b = at.UTC()
		}
		add(b, key, t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	return nil
}

// signed selects a group, the currency and the given sums (named s0, s1,
// ...) from a table and its condition, each sum with sign in front.
func signed(from, group string, sums []string, sign string) string {
	cols := make([]string, len(sums))
	for i, c := range sums {
		cols[i] = fmt.Sprintf("%s%s AS s%d", sign, c, i)
	}
	return "SELECT " + group + " AS g, currency, " + strings.Join(cols, ", ") + " FROM " + from
}

// eventColumns are read back into an event, bodies last; the billing
// units' columns come after the token counts the upstream reported.
var eventColumns = `request_id, time, node, org_id, key_id, capability, model, provider, upstream_model, stream, status,
	error_code, total_tokens, cached_tokens, ` + strings.Join(unitColumns(), ", ") + `,
	usage_estimated, cost_micros, currency, latency_ms, upstream_ms, ttfb_ms, attempts, request_bytes, response_bytes,
	request_truncated, response_truncated, bodies_dropped, own_key`

func scanEvent(row pgx.Row, bodies bool) (*event.Event, error) {
	var (
		ev                event.Event
		u                 = &ev.Usage
		status            int32
		lat, up, ttfb     int32
		reqBody, respBody *string
		dest              []any
	)
	dest = []any{&ev.RequestID, &ev.Time, &ev.Node, &ev.OrgID, &ev.KeyID, &ev.Capability, &ev.Model, &ev.Provider,
		&ev.UpstreamModel, &ev.Stream, &status, &ev.ErrorCode, &u.TotalTokens, &u.CachedTokens}
	for _, f := range u.Figures() {
		dest = append(dest, f)
	}
	dest = append(dest, &u.Estimated, &ev.CostMicros, &ev.Currency,
		&lat, &up, &ttfb, &ev.Attempts, &ev.RequestBytes, &ev.ResponseBytes, &ev.RequestTruncated,
		&ev.ResponseTruncated, &ev.BodiesDropped, &ev.OwnKey)
	if bodies {
		dest = append(dest, &reqBody, &respBody)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	ev.Time = ev.Time.UTC()
	ev.Status, ev.LatencyMS, ev.UpstreamMS, ev.TTFBMS = int(status), int64(lat), int64(up), int64(ttfb)
	if reqBody != nil {
		ev.RequestBody = *reqBody
	}
	if respBody != nil {
		ev.ResponseBody = *respBody
	}
	return &ev, nil
}

// Audit pages through events newest first, without their bodies.
func (q *Queries) Audit(ctx context.Context, aq event.AuditQuery) (*event.AuditPage, error) {
	cond, args := where(aq.Filter, "time", nil)
	var extra []string
	switch aq.Status {
	case "ok":
		extra = append(extra, "status < 400")
	case "error":
		extra = append(extra, "status >= 400")
	}
	if aq.Cursor != "" {
		c, err := event.DecodeCursor(aq.Cursor)
		if err != nil {
			return nil, err
		}
		args = append(args, c.Time, c.RequestID)
		extra = append(extra, fmt.Sprintf("(time, request_id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	if len(extra) > 0 {
		if cond == "" {
			cond = " WHERE "
		} else {
			cond += " AND "
		}
		cond += strings.Join(extra, " AND ")
	}
	args = append(args, aq.Limit+1)
	rows, err := q.sink.pool.Query(ctx, `SELECT `+eventColumns+` FROM audit_events`+cond+
		fmt.Sprintf(" ORDER BY time DESC, request_id DESC LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("query audit events: %w", err)
	}
	defer rows.Close()
	page := &event.AuditPage{Source: "postgres", Data: []event.Event{}}
	for rows.Next() {
		ev, err := scanEvent(rows, false)
		if err != nil {
			return nil, fmt.Errorf("read audit event: %w", err)
		}
		if len(page.Data) == aq.Limit {
			page.Next = event.EncodeCursor(&page.Data[len(page.Data)-1])
			break
		}
		page.Data = append(page.Data, *ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit events: %w", err)
	}
	return page, nil
}

// Event returns one event with its failover chain and bodies.
func (q *Queries) Event(ctx context.Context, requestID string) (*event.Event, error) {
	ev, err := scanEvent(q.sink.pool.QueryRow(ctx, `SELECT `+eventColumns+`, request_body, response_body
		FROM audit_events WHERE request_id = $1 LIMIT 1`, requestID), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, event.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("query audit event %s: %w", requestID, err)
	}
	return ev, nil
}
