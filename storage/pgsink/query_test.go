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

func TestDayParts(t *testing.T) {
	at := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	show := func(ps []event.Filter) string {
		var out []string
		for _, p := range ps {
			to := "open"
			if !p.To.IsZero() {
				to = p.To.Format("02T15")
			}
			out = append(out, p.From.Format("02T15")+"-"+to)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		from, to time.Time
		want     string
	}{
		{at(1, 16), time.Time{}, "01T16-02T00 02T00-open"},
		{at(1, 16), at(4, 16), "01T16-02T00 02T00-04T00 04T00-04T16"},
		{at(2, 0), at(4, 0), ""},     // whole days already
		{at(1, 16), at(2, 8), ""},    // no whole day inside
		{time.Time{}, at(4, 16), ""}, // open start
		{at(2, 0), at(4, 16), "02T00-04T00 04T00-04T16"},
	} {
		if got := show(dayParts(event.Filter{From: tc.from, To: tc.to})); got != tc.want {
			t.Errorf("%v–%v: %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}
