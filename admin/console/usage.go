package console

import (
	"cmp"
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/web"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

// usageGroupsShown is how many groups the usage page lists.
const usageGroupsShown = 100

// usageData is the 用量 page's data.
type usageData struct {
	Query   url.Values
	Report  *event.UsageReport
	Orgs    []orgOption
	GroupBy string
	// Groups are the busiest groups (at most usageGroupsShown, by
	// requests); the CSV export has them all.
	Groups      []event.Group
	GroupsTotal int
	// Names are the shown keys' names, by id.
	Names map[string]string
	// Series is the bucketed requests for the chart: [times, values].
	Series [][]float64
	CSV    string
}

type orgOption struct{ ID, Name string }

// consoleFilter reads the usage and audit filters the way the API does,
// confined to the caller's org.
func (s *Console) consoleFilter(r *http.Request) (event.Filter, *time.Location, error) {
	q := r.URL.Query()
	clean := url.Values{}
	for _, k := range []string{"org_id", "key_id", "model", "capability", "from", "to", "tz"} {
		if v := q.Get(k); v != "" {
			clean.Set(k, v)
		}
	}
	return s.d.API.Filter(r, clean)
}

func (s *Console) orgOptions(r *http.Request) []orgOption {
	p := principalFrom(r.Context())
	var out []orgOption
	for _, o := range s.d.Viewer.View().Orgs {
		if p.canRead(o.ID) {
			out = append(out, orgOption{o.ID, o.Name})
		}
	}
	slices.SortFunc(out, func(a, b orgOption) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out
}

func (s *Console) usageQuery(r *http.Request) (event.UsageQuery, error) {
	f, loc, err := s.consoleFilter(r)
	if err != nil {
		return event.UsageQuery{}, err
	}
	q := event.UsageQuery{Filter: f, Loc: loc, Bucket: r.URL.Query().Get("bucket"), GroupBy: r.URL.Query().Get("group_by")}
	if !slices.Contains(event.Buckets, q.Bucket) {
		q.Bucket = "day"
	}
	if q.GroupBy != "" && !slices.Contains(event.GroupBys, q.GroupBy) {
		q.GroupBy = ""
	}
	if q.GroupBy == "" {
		q.GroupBy = "model"
	}
	now := s.d.Now()
	if q.From.IsZero() {
		if q.Bucket == "hour" {
			q.From = event.BucketStart("hour", now.Add(-24*time.Hour), loc).UTC()
		} else {
			q.From = event.BucketStart("day", now, loc).AddDate(0, 0, -29).UTC()
		}
	}
	return q, nil
}

func (s *Console) usagePage(w http.ResponseWriter, r *http.Request) {
	d := usageData{Query: r.URL.Query(), Orgs: s.orgOptions(r)}
	pg := page{Active: "usage", Data: &d}
	q, err := s.usageQuery(r)
	if err == nil {
		d.GroupBy = q.GroupBy
		d.Report, err = s.d.Usage.Usage(r.Context(), q)
	}
	if err != nil {
		pg.Error = consoleError(langOf(r), err)
		s.render(w, r, "usage", pg)
		return
	}
	d.Series = chartPoints(d.Report.Series, q.Bucket, q.From, cmp.Or(q.To, s.d.Now()), q.Location(),
		func(t event.Totals) []float64 { return []float64{float64(t.Requests)} })
	d.Groups, d.GroupsTotal = busiest(d.Report.Groups, usageGroupsShown), len(d.Report.Groups)
	if q.GroupBy == "key" {
		d.Names = keyNames(s.d.Viewer.View(), d.Groups)
	}
	csvQ := r.URL.Query()
	d.CSV = "/usage.csv?" + csvQ.Encode()
	s.render(w, r, "usage", pg)
}

// usageCSV exports the usage page's table.
func (s *Console) usageCSV(w http.ResponseWriter, r *http.Request) {
	q, err := s.usageQuery(r)
	var rep *event.UsageReport
	if err == nil {
		rep, err = s.d.Usage.Usage(r.Context(), q)
	}
	if err != nil {
		http.Error(w, consoleError(langOf(r), err), web.ToAPIError(err).Status)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tensorgate-usage.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write(usageCSVHeader(q.GroupBy))
	for _, g := range rep.Groups {
		base := []string{csvText(g.Key), itoa(g.Requests), itoa(g.Errors)}
		for _, f := range g.Figures() {
			base = append(base, itoa(*f))
		}
		mean := itoa(g.MeanLatencyMS())
		if len(g.CostMicros) == 0 {
			_ = cw.Write(append(base, "", "0", mean))
		}
		for cur, v := range g.CostMicros {
			_ = cw.Write(append(slices.Clone(base), csvText(cur), formatMicros(v), mean))
		}
	}
	cw.Flush()
}

// csvText neutralises a text cell a spreadsheet would run as a formula
// (a model or key name is the client's to choose): one that starts with
// = + - @, a tab or a carriage return gets a leading apostrophe.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// usageCSVHeader is the CSV export's first line: the grouping, then a
// column per billing unit (fsm.Units) between the counts and the cost.
func usageCSVHeader(groupBy string) []string {
	h := []string{groupBy, "requests", "errors"}
	for _, u := range fsm.Units {
		h = append(h, u.Name)
	}
	return append(h, "currency", "cost", "mean_latency_ms")
}

// maxChartPoints bounds the buckets a chart is filled out to.
const maxChartPoints = 10_000

// chartPoints lays a series out for uPlot, [times, values...], on every
// bucket from from to to in loc, with zeros where nothing happened, so the
// chart spans the range asked for; values picks each point's figures.
func chartPoints(series []event.Point, bucket string, from, to time.Time, loc *time.Location, values func(event.Totals) []float64) [][]float64 {
	n := len(values(event.Totals{}))
	out := make([][]float64, n+1)
	add := func(at time.Time, t event.Totals) {
		out[0] = append(out[0], float64(at.Unix()))
		for i, v := range values(t) {
			out[i+1] = append(out[i+1], v)
		}
	}
	have := make(map[int64]event.Totals, len(series))
	for _, pt := range series {
		have[pt.Time.Unix()] = pt.Totals
	}
	start := event.BucketStart(bucket, from, loc)
	if start.IsZero() || from.IsZero() || !start.Before(to) {
		for _, pt := range series {
			add(pt.Time, pt.Totals)
		}
		return out
	}
	for at, i := start, 0; at.Before(to) && i < maxChartPoints; i++ {
		add(at, have[at.Unix()])
		if bucket == "hour" {
			at = at.Add(time.Hour)
		} else {
			at = at.AddDate(0, 0, 1)
		}
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// auditData is the 审计 page's data.
type auditData struct {
	Query url.Values
	Page  *event.AuditPage
	Orgs  []orgOption
	Next  string
	Loc   *time.Location
}

func (s *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	d := auditData{Query: r.URL.Query(), Orgs: s.orgOptions(r), Loc: time.UTC}
	if p := principalFrom(r.Context()); !p.super() {
		d.Loc = s.d.Viewer.View().OrgLocation(p.user.OrgID)
	}
	pg := page{Active: "audit", Data: &d}
	if id := r.URL.Query().Get("request_id"); id != "" {
		http.Redirect(w, r, "/audit/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	f, loc, err := s.consoleFilter(r)
	if err == nil {
		d.Loc = loc
		q := event.AuditQuery{Filter: f, Status: r.URL.Query().Get("status"), Limit: 50, Cursor: r.URL.Query().Get("cursor")}
		if q.Status != "ok" && q.Status != "error" {
			q.Status = ""
		}
		d.Page, err = s.d.Usage.Audit(r.Context(), q)
		if errors.Is(err, event.ErrBadCursor) {
			err = web.BadRequest("cursor", err.Error())
		}
	}
	if err != nil {
		pg.Error = consoleError(langOf(r), err)
		s.render(w, r, "audit", pg)
		return
	}
	if d.Page.Next != "" {
		next := r.URL.Query()
		next.Set("cursor", d.Page.Next)
		d.Next = "/audit?" + next.Encode()
	}
	s.render(w, r, "audit", pg)
}

// auditDetail shows one event whole: failover chain, usage, cost, bodies.
func (s *Console) auditDetail(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	ev, err := s.d.API.Event(r, id)
	pg := page{Active: "audit"}
	if err != nil {
		w.WriteHeader(web.ToAPIError(err).Status)
		pg.Error = consoleError(langOf(r), err)
		s.render(w, r, "audit_event", pg)
		return
	}
	pg.Data = struct {
		*event.Event
		Loc *time.Location
	}{ev, s.d.Viewer.View().OrgLocation(ev.OrgID)}
	s.render(w, r, "audit_event", pg)
}
