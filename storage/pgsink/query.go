package pgsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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
// in timeCol, with its arguments. The daily and monthly rollups' time is a
// UTC date.
func where(f event.Filter, timeCol string) (string, []any) {
	var (
		conds []string
		args  []any
	)
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
		if timeCol == "day" || timeCol == "month" {
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
	noKey := uq.KeyID == "" && uq.KeyIDs == nil && uq.GroupBy != "key"
	if noKey && wholeHours(uq.From, loc) && wholeHours(uq.To, loc) {
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
// usageSource). With both buckets and groups, the series and the groups
// are two queries run at once, each from its own cheapest table (the
// series of a by-key report needs no key), rather than every bucket ×
// group.
func (q *Queries) Usage(ctx context.Context, uq event.UsageQuery) (*event.UsageReport, error) {
	if uq.Bucket == "" {
		if parts := rangeParts(uq.Filter, perKey(uq)); parts != nil {
			return q.usageInParts(ctx, uq, parts)
		}
	}
	if uq.Bucket == "" || uq.GroupBy == "" {
		return q.usage(ctx, uq)
	}
	seriesQ, groupsQ := uq, uq
	seriesQ.GroupBy, groupsQ.Bucket = "", ""
	var series, groups *event.UsageReport
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { series, err = q.usage(gctx, seriesQ); return err })
	g.Go(func() (err error) { groups, err = q.Usage(gctx, groupsQ); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	series.GroupBy, series.Groups = uq.GroupBy, groups.Groups
	return series, nil
}

// rangeParts splits a range that does not start or end on a UTC midnight
// into its partial days at the edges and its whole UTC days, and, with
// months, the whole UTC months among those days, so a query without
// buckets reads each part from the smallest rollup that answers it and
// the events only for the edges. Nil when there is nothing to gain.
func rangeParts(f event.Filter, months bool) []event.Filter {
	if f.From.IsZero() {
		return nil
	}
	lo := ceilUTC("day", f.From)
	hi := f.To // open: the rollups hold today so far
	if !hi.IsZero() {
		hi = floorUTC("day", hi)
		if !lo.Before(hi) {
			return nil
		}
	}
	points := []time.Time{f.From, lo}
	if months {
		mlo := ceilUTC("month", lo)
		if hi.IsZero() {
			if mlo.Before(time.Now()) {
				points = append(points, mlo)
			}
		} else if mhi := floorUTC("month", hi); mlo.Before(mhi) {
			points = append(points, mlo, mhi)
		}
	}
	points = append(points, hi, f.To)
	var parts []event.Filter
	for i := 0; i+1 < len(points) && !points[i].IsZero(); i++ {
		from, to := points[i], points[i+1]
		if !to.IsZero() && !from.Before(to) {
			continue
		}
		p := f
		p.From, p.To = from, to
		parts = append(parts, p)
		if to.IsZero() {
			break
		}
	}
	if len(parts) < 2 {
		return nil
	}
	return parts
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

// monthStart reports whether t is open or the first instant of a UTC month.
func monthStart(t time.Time) bool { return t.IsZero() || t.Equal(floorUTC("month", t)) }

// usageInParts answers a query without buckets as the sum of its parts,
// asked at once.
func (q *Queries) usageInParts(ctx context.Context, uq event.UsageQuery, parts []event.Filter) (*event.UsageReport, error) {
	reps := make([]*event.UsageReport, len(parts))
	g, gctx := errgroup.WithContext(ctx)
	for i, f := range parts {
		pq := uq
		pq.Filter = f
		g.Go(func() (err error) { reps[i], err = q.usage(gctx, pq); return err })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	r := event.NewReport(uq, "postgres")
	for _, rep := range reps {
		if uq.GroupBy == "" {
			r.Add(time.Time{}, "", rep.Totals)
		}
		for _, grp := range rep.Groups {
			r.Add(time.Time{}, grp.Key, grp.Totals)
		}
	}
	return r.Done(), nil
}

// usage answers a query with buckets or groups (or neither) in one
// statement.
func (q *Queries) usage(ctx context.Context, uq event.UsageQuery) (*event.UsageReport, error) {
	table, timeCol, requests, errs := usageSource(uq)
	cond, args := where(uq.Filter, timeCol)
	bucket, group := "NULL::timestamptz", "''"
	if uq.GroupBy != "" {
		group = groupColumn[uq.GroupBy]
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
	rows, err := q.sink.pool.Query(ctx, `SELECT `+bucket+`, `+group+`, currency, sum(`+requests+`)::bigint, sum(`+errs+`)::bigint,
		sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, sum(images)::bigint, sum(seconds)::bigint,
		sum(pages)::bigint, sum(characters)::bigint, sum(cost_micros)::bigint, sum(latency_ms)::bigint FROM `+table+cond+` GROUP BY 1, 2, 3`, args...)
	if err != nil {
		return nil, fmt.Errorf("query usage: %w", err)
	}
	defer rows.Close()
	r := event.NewReport(uq, "postgres")
	for rows.Next() {
		var (
			at       *time.Time
			key, cur string
			t        event.Totals
			cost     int64
		)
		if err := rows.Scan(&at, &key, &cur, &t.Requests, &t.Errors, &t.PromptTokens, &t.CompletionTokens,
			&t.Images, &t.Seconds, &t.Pages, &t.Characters, &cost, &t.LatencyMSTotal); err != nil {
			return nil, fmt.Errorf("read usage: %w", err)
		}
		t.CostMicros = map[string]int64{cur: cost}
		var b time.Time
		if at != nil {
			b = at.UTC()
		}
		r.Add(b, key, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	return r.Done(), nil
}

// eventColumns are read back into an event, bodies last.
const eventColumns = `request_id, time, node, org_id, key_id, capability, model, provider, upstream_model, stream, status,
	error_code, prompt_tokens, completion_tokens, total_tokens, cached_tokens, images, seconds, pages, characters,
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
		&ev.UpstreamModel, &ev.Stream, &status, &ev.ErrorCode, &u.PromptTokens, &u.CompletionTokens, &u.TotalTokens,
		&u.CachedTokens, &u.Images, &u.Seconds, &u.Pages, &u.Characters, &u.Estimated, &ev.CostMicros, &ev.Currency,
		&lat, &up, &ttfb, &ev.Attempts, &ev.RequestBytes, &ev.ResponseBytes, &ev.RequestTruncated,
		&ev.ResponseTruncated, &ev.BodiesDropped, &ev.OwnKey}
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
	cond, args := where(aq.Filter, "time")
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
