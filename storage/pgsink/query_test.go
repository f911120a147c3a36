package pgsink

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/storage/event"
)

// TestQueriesAgreeWithTheEvents ships a varied set of events, then checks
// every kind of usage query against a report summed from the events
// themselves, and pages through the audit log.
func TestQueriesAgreeWithTheEvents(t *testing.T) {
	s := newSink(t, Options{})
	ctx := context.Background()
	base := time.Date(2026, 11, 24, 22, 0, 0, 0, time.UTC)
	var evs []event.Event
	for i := range 60 {
		ev := testEvent(i, base.Add(time.Duration(i)*7*time.Minute)) // about three UTC days
		ev.OrgID = []string{"org1", "org2"}[i%2]
		ev.Model = []string{"qwen-plus", "deepseek-v4-flash", "qwen-max"}[i%3]
		ev.Provider = []string{"dashscope", "deepseek"}[i%2]
		ev.Usage.PromptTokens = int64(i)
		ev.CostMicros = int64(i * 10)
		ev.LatencyMS = int64(100 + i*3)
		if i%7 == 0 {
			ev.Status, ev.ErrorCode, ev.Currency, ev.CostMicros = 502, "upstream_error", "", 0
		}
		if i%11 == 0 {
			ev.Currency = "USD"
		}
		evs = append(evs, ev)
	}
	if err := s.Ship(ctx, records(t, evs...)); err != nil {
		t.Fatal(err)
	}
	q := s.Queries()
	day := func(d int) time.Time { return time.Date(2026, 11, 24+d, 0, 0, 0, 0, time.UTC) }
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	kolkata, _ := time.LoadLocation("Asia/Kolkata") // a half-hour offset
	sources := map[string]int{}
	for _, uq := range []event.UsageQuery{
		{Bucket: "day", Loc: shanghai},
		{Bucket: "day", GroupBy: "model", Loc: kolkata, Filter: event.Filter{From: day(1), To: day(3)}},
		{Bucket: "hour", Loc: kolkata},
		{},
		{Bucket: "day", GroupBy: "org"},
		{Bucket: "hour", GroupBy: "model"},
		{GroupBy: "provider"},
		{GroupBy: "key", Filter: event.Filter{OrgID: "org1", From: day(1), To: day(2)}},
		{Bucket: "hour", Filter: event.Filter{Model: "qwen-max", From: base.Add(time.Hour), To: base.Add(5 * time.Hour)}},
		{Bucket: "day", Filter: event.Filter{Capability: "llm", KeyID: "key1"}},
		{GroupBy: "key", Filter: event.Filter{KeyIDs: []string{"key1", "key3"}, From: base.Add(90 * time.Minute)}},
		{GroupBy: "key", Filter: event.Filter{KeyIDs: []string{"key0"}, From: day(1), To: day(3)}},
		// Series and groups at once, from each table.
		{Bucket: "day", GroupBy: "provider", Loc: shanghai, Filter: event.Filter{From: day(1).Add(-8 * time.Hour)}},
		{Bucket: "hour", GroupBy: "capability", Filter: event.Filter{OrgID: "org2", From: base.Add(2 * time.Hour), To: day(2)}},
		{Bucket: "day", GroupBy: "key"},
		{Bucket: "hour", GroupBy: "key", Loc: kolkata},
		// Whole UTC days from the rollups, the edges from the events.
		{GroupBy: "org", Loc: shanghai, Filter: event.Filter{From: day(1).Add(-8 * time.Hour), To: day(3).Add(-8 * time.Hour)}},
		{Filter: event.Filter{OrgID: "org1", From: base.Add(3 * time.Hour), To: day(2).Add(5 * time.Hour)}},
	} {
		table, _, _, _ := usageSource(uq)
		sources[table]++
		got, err := q.Usage(ctx, uq)
		if err != nil {
			t.Fatalf("%+v: %v", uq, err)
		}
		want := event.NewReport(uq, "postgres")
		for i := range evs {
			if uq.Match(&evs[i]) {
				want.AddEvent(&evs[i])
			}
		}
		if w := want.Done(); !reflect.DeepEqual(got, w) {
			t.Fatalf("%+v:\n got %+v\nwant %+v", uq, got, w)
		}
	}

	if len(sources) != 4 {
		t.Fatalf("queries read %v; every table should answer some", sources)
	}

	// Paging: every matching event once, newest first.
	var seen []string
	page := &event.AuditPage{}
	aq := event.AuditQuery{Filter: event.Filter{OrgID: "org1"}, Status: "ok", Limit: 4}
	for first := true; first || page.Next != ""; first = false {
		aq.Cursor = page.Next
		var err error
		if page, err = q.Audit(ctx, aq); err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Data {
			if ev.RequestBody != "" || ev.OrgID != "org1" || ev.Status >= 400 {
				t.Fatalf("listed %+v", ev)
			}
			seen = append(seen, ev.RequestID)
		}
	}
	var want []string
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].OrgID == "org1" && evs[i].Status < 400 {
			want = append(want, evs[i].RequestID)
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("paged %v\nwant  %v", seen, want)
	}
	if _, err := q.Audit(ctx, event.AuditQuery{Limit: 1, Cursor: "bogus"}); !errors.Is(err, event.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}

	// One event, whole.
	ev, err := q.Event(ctx, evs[7].RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*ev, evs[7]) {
		t.Fatalf("event\n got %+v\nwant %+v", *ev, evs[7])
	}
	if _, err := q.Event(ctx, "req_missing"); !errors.Is(err, event.ErrNotFound) {
		t.Fatalf("missing event: %v", err)
	}
}

func TestRangeParts(t *testing.T) {
	at := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, time.UTC) }
	show := func(ps []event.Filter) string {
		var out []string
		for _, p := range ps {
			to := "open"
			if !p.To.IsZero() {
				to = p.To.Format("01-02T15")
			}
			out = append(out, p.From.Format("01-02T15")+"-"+to)
		}
		return strings.Join(out, " ")
	}
	nov := time.November
	for _, tc := range []struct {
		from, to time.Time
		months   bool
		want     string
	}{
		{at(nov, 1, 16), time.Time{}, false, "11-01T16-11-02T00 11-02T00-open"},
		{at(nov, 1, 16), at(nov, 4, 16), false, "11-01T16-11-02T00 11-02T00-11-04T00 11-04T00-11-04T16"},
		{at(nov, 2, 0), at(nov, 4, 0), false, ""},  // whole days already
		{at(nov, 1, 16), at(nov, 2, 8), false, ""}, // no whole day inside
		{time.Time{}, at(nov, 4, 16), false, ""},   // open start
		{at(nov, 2, 0), at(nov, 4, 16), false, "11-02T00-11-04T00 11-04T00-11-04T16"},
		// Whole months among the days, for the per-key rollups.
		{at(10, 28, 0), time.Time{}, true, "10-28T00-11-01T00 11-01T00-open"},
		{at(10, 27, 16), at(12, 3, 5), true, "10-27T16-10-28T00 10-28T00-11-01T00 11-01T00-12-01T00 12-01T00-12-03T00 12-03T00-12-03T05"},
		{at(10, 1, 0), at(12, 1, 0), true, ""},    // whole months already: one part
		{at(nov, 3, 0), at(nov, 20, 0), true, ""}, // no whole month inside
		{at(10, 31, 16), time.Time{}, true, "10-31T16-11-01T00 11-01T00-open"},
	} {
		if got := show(rangeParts(event.Filter{From: tc.from, To: tc.to}, tc.months)); got != tc.want {
			t.Errorf("%v–%v months %v: %q, want %q", tc.from, tc.to, tc.months, got, tc.want)
		}
	}
}

// Usage by key over ranges holding whole months reads the monthly
// rollups for the months, the daily ones for the other days and the
// events for the edges, and still equals the sums of the events.
func TestUsageByKeyAcrossMonths(t *testing.T) {
	s := newSink(t, Options{})
	ctx := context.Background()
	start := time.Date(2026, 10, 20, 5, 0, 0, 0, time.UTC)
	var evs []event.Event
	for i := range 45 {
		ev := testEvent(i, start.Add(time.Duration(i)*31*time.Hour)) // to 10 December
		ev.KeyID = []string{"key0", "key1", "key2"}[i%3]
		ev.OrgID = []string{"org1", "org2", "org1"}[i%3] // a key belongs to one org
		ev.CostMicros, ev.LatencyMS = int64(1000+i), int64(50+i)
		if i%5 == 0 {
			ev.Currency = "USD"
		}
		evs = append(evs, ev)
	}
	if err := s.Ship(ctx, records(t, evs...)); err != nil {
		t.Fatal(err)
	}
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	novShanghai := time.Date(2026, 11, 1, 0, 0, 0, 0, shanghai)
	monthly := 0
	for _, uq := range []event.UsageQuery{
		{GroupBy: "key", Filter: event.Filter{From: time.Date(2026, 10, 25, 13, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)}},
		{GroupBy: "key", Filter: event.Filter{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}},
		{GroupBy: "key", Loc: shanghai, Filter: event.Filter{KeyIDs: []string{"key0", "key2"}, From: novShanghai}},
		{GroupBy: "org", Filter: event.Filter{From: time.Date(2026, 10, 28, 0, 0, 0, 0, time.UTC)}},
		{Filter: event.Filter{KeyID: "key1", OrgID: "org2", From: time.Date(2026, 10, 21, 0, 0, 0, 0, time.UTC)}},
	} {
		for _, p := range append(rangeParts(uq.Filter, perKey(uq)), uq.Filter) {
			pq := uq
			pq.Filter = p
			if table, _, _, _ := usageSource(pq); table == "billing_key_monthly" {
				monthly++
			}
		}
		got, err := s.Queries().Usage(ctx, uq)
		if err != nil {
			t.Fatalf("%+v: %v", uq, err)
		}
		want := event.NewReport(uq, "postgres")
		for i := range evs {
			if uq.Match(&evs[i]) {
				want.AddEvent(&evs[i])
			}
		}
		if w := want.Done(); !reflect.DeepEqual(got, w) {
			t.Fatalf("%+v:\n got %+v\nwant %+v", uq, got, w)
		}
	}
	if monthly == 0 {
		t.Fatal("no query read the monthly rollups")
	}
}
