package event

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// ErrNotFound is returned for an event that is not stored.
var ErrNotFound = errors.New("event not found")

// ErrBadCursor is returned for a page cursor no store issued.
var ErrBadCursor = errors.New("cursor is not one this API returned")

// Filter selects events. Empty fields match everything; the time range is
// [From, To).
type Filter struct {
	OrgID string
	KeyID string
	// KeyIDs, when set, admits only these keys (the console's page of
	// keys).
	KeyIDs     []string
	Model      string
	Capability string
	From, To   time.Time
}

// Match reports whether ev passes the filter.
func (f Filter) Match(ev *Event) bool {
	return (f.OrgID == "" || ev.OrgID == f.OrgID) && f.MatchKey(ev.KeyID) &&
		(f.Model == "" || ev.Model == f.Model) && (f.Capability == "" || ev.Capability == f.Capability) &&
		(f.From.IsZero() || !ev.Time.Before(f.From)) && (f.To.IsZero() || ev.Time.Before(f.To))
}

// MatchKey reports whether the filter admits key id.
func (f Filter) MatchKey(id string) bool {
	return (f.KeyID == "" || id == f.KeyID) && (f.KeyIDs == nil || slices.Contains(f.KeyIDs, id))
}

// Buckets and groupings a usage query may ask for.
var (
	Buckets  = []string{"hour", "day"}
	GroupBys = []string{"org", "key", "model", "capability", "provider"}
)

// UsageQuery asks for usage totals, optionally per time bucket and per
// group.
type UsageQuery struct {
	Filter
	Bucket  string // "", "hour" or "day"
	GroupBy string // "", or one of GroupBys
	// Loc is the time zone buckets start in (nil: UTC).
	Loc *time.Location
}

// Location is the query's time zone.
func (q UsageQuery) Location() *time.Location {
	if q.Loc == nil {
		return time.UTC
	}
	return q.Loc
}

// Totals sums usage: a field per entry of fsm.Units (see Figures). Costs
// are kept per currency: they never add up across currencies.
type Totals struct {
	Requests         int64            `json:"requests"`
	Errors           int64            `json:"errors"`
	PromptTokens     int64            `json:"prompt_tokens"`
	CompletionTokens int64            `json:"completion_tokens"`
	Images           int64            `json:"images"`
	Seconds          int64            `json:"seconds"`
	Pages            int64            `json:"pages"`
	Characters       int64            `json:"characters"`
	CostMicros       map[string]int64 `json:"cost_micros"`
	// LatencyMSTotal is the requests' latencies added up (ms): divided by
	// Requests, their mean.
	LatencyMSTotal int64 `json:"latency_ms_total"`
}

// Figures returns t's figure of each billing unit.
func (t *Totals) Figures() fsm.Figures {
	return [...]*int64{&t.PromptTokens, &t.CompletionTokens, &t.Images, &t.Seconds, &t.Pages, &t.Characters}
}

// MeanLatencyMS is the requests' mean latency in whole milliseconds, 0
// with no requests.
func (t Totals) MeanLatencyMS() int64 {
	if t.Requests == 0 {
		return 0
	}
	return t.LatencyMSTotal / t.Requests
}

// AddEvent counts one event.
func (t *Totals) AddEvent(ev *Event) {
	errs := int64(0)
	if ev.Status >= 400 {
		errs = 1
	}
	o := Totals{Requests: 1, Errors: errs, CostMicros: map[string]int64{ev.Currency: ev.CostMicros}, LatencyMSTotal: max(0, ev.LatencyMS)}
	to, from := o.Figures(), ev.Usage.Figures()
	for i := range to {
		*to[i] = *from[i]
	}
	t.Add(o)
}

// Add adds o to t.
func (t *Totals) Add(o Totals) {
	t.Requests += o.Requests
	t.Errors += o.Errors
	to, from := t.Figures(), o.Figures()
	for i := range to {
		*to[i] += *from[i]
	}
	t.LatencyMSTotal += o.LatencyMSTotal
	for cur, v := range o.CostMicros {
		if cur == "" && v == 0 {
			continue // unpriced requests carry no currency
		}
		if t.CostMicros == nil {
			t.CostMicros = map[string]int64{}
		}
		t.CostMicros[cur] += v
	}
}

// nonNil returns t with an empty cost map instead of none, so clients
// always see an object.
func (t Totals) nonNil() Totals {
	if t.CostMicros == nil {
		t.CostMicros = map[string]int64{}
	}
	return t
}

// Group is the totals of one value of the grouping.
type Group struct {
	Key string `json:"key"`
	Totals
}

// Point is the totals of one time bucket.
type Point struct {
	Time time.Time `json:"time"`
	Totals
}

// UsageReport answers a UsageQuery.
type UsageReport struct {
	// Source says where the numbers come from: "postgres" (every node's
	// events), or "local" (this node's recent events, when there is no
	// Postgres).
	Source  string    `json:"source"`
	TZ      string    `json:"tz"`
	From    time.Time `json:"from,omitzero"`
	To      time.Time `json:"to,omitzero"`
	Bucket  string    `json:"bucket,omitempty"`
	GroupBy string    `json:"group_by,omitempty"`
	Totals  Totals    `json:"totals"`
	Groups  []Group   `json:"groups"`
	Series  []Point   `json:"series"`
}

// Report accumulates a UsageReport from rows or events.
type Report struct {
	q      UsageQuery
	r      UsageReport
	groups map[string]*Totals
	points map[time.Time]*Totals
}

// NewReport starts a report for q, from source.
func NewReport(q UsageQuery, source string) *Report {
	return &Report{q: q, r: UsageReport{Source: source, TZ: q.Location().String(), From: q.From, To: q.To, Bucket: q.Bucket, GroupBy: q.GroupBy},
		groups: map[string]*Totals{}, points: map[time.Time]*Totals{}}
}

// GroupKey returns the value ev is grouped under.
func GroupKey(by string, ev *Event) string {
	switch by {
	case "org":
		return ev.OrgID
	case "key":
		return ev.KeyID
	case "model":
		return ev.Model
	case "capability":
		return ev.Capability
	case "provider":
		return ev.Provider
	}
	return ""
}

// BucketStart returns the start of t's bucket, on the wall clock of loc.
func BucketStart(bucket string, t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	switch bucket {
	case "hour":
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, loc)
	case "day":
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	}
	return time.Time{}
}

// AddEvent counts one event into the report.
func (r *Report) AddEvent(ev *Event) {
	var t Totals
	t.AddEvent(ev)
	r.Add(ev.Time, GroupKey(r.q.GroupBy, ev), t)
}

// Add counts totals of one group, at a time in their bucket, into the
// report.
func (r *Report) Add(at time.Time, group string, t Totals) {
	bucket := BucketStart(r.q.Bucket, at, r.q.Location())
	r.r.Totals.Add(t)
	if r.q.GroupBy != "" {
		g := r.groups[group]
		if g == nil {
			g = &Totals{}
			r.groups[group] = g
		}
		g.Add(t)
	}
	if r.q.Bucket != "" {
		p := r.points[bucket]
		if p == nil {
			p = &Totals{}
			r.points[bucket] = p
		}
		p.Add(t)
	}
}

// Done returns the report, groups by key and series by time.
func (r *Report) Done() *UsageReport {
	out := r.r
	out.Totals = out.Totals.nonNil()
	out.Groups, out.Series = []Group{}, []Point{}
	for k, t := range r.groups {
		out.Groups = append(out.Groups, Group{Key: k, Totals: t.nonNil()})
	}
	slices.SortFunc(out.Groups, func(a, b Group) int { return strings.Compare(a.Key, b.Key) })
	for k, t := range r.points {
		out.Series = append(out.Series, Point{Time: k, Totals: t.nonNil()})
	}
	slices.SortFunc(out.Series, func(a, b Point) int { return a.Time.Compare(b.Time) })
	return &out
}

// AuditQuery pages through events, newest first.
type AuditQuery struct {
	Filter
	Status string // "", "ok" (status < 400) or "error"
	Limit  int
	Cursor string // from the previous page's Next
}

// MatchStatus reports whether ev passes the status filter.
func (q AuditQuery) MatchStatus(ev *Event) bool {
	switch q.Status {
	case "ok":
		return ev.Status < 400
	case "error":
		return ev.Status >= 400
	}
	return true
}

// AuditPage is one page of events, without their bodies.
type AuditPage struct {
	Source string  `json:"source"`
	Data   []Event `json:"data"`
	// Next is the cursor of the following page; empty on the last.
	Next string `json:"next,omitempty"`
}

// Cursor marks a position in the newest-first order of events.
type Cursor struct {
	Time      time.Time
	RequestID string
}

// EncodeCursor returns the opaque form of the position after ev.
func EncodeCursor(ev *Event) string {
	return base64.RawURLEncoding.EncodeToString([]byte(ev.Time.UTC().Format(time.RFC3339Nano) + "|" + ev.RequestID))
}

// DecodeCursor parses a cursor from EncodeCursor.
func DecodeCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		ts, id, ok := strings.Cut(string(b), "|")
		if t, terr := time.Parse(time.RFC3339Nano, ts); ok && terr == nil && id != "" {
			return Cursor{Time: t, RequestID: id}, nil
		}
	}
	return Cursor{}, ErrBadCursor
}

// WithoutBodies returns ev as listed in a page: no bodies.
func (ev Event) WithoutBodies() Event {
	ev.RequestBody, ev.ResponseBody = "", ""
	return ev
}
