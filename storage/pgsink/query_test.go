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
		if w := reportOf(uq, evs); !reflect.DeepEqual(got, w) {
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
	show := func(ps []part) string {
		var out []string
		for _, p := range ps {
			var pieces []string
			for _, pc := range p {
				to := "open"
				if !pc.to.IsZero() {
					to = pc.to.Format("01-02T15")
				}
				s := pc.unit + " " + pc.from.Format("01-02T15") + "-" + to
				if pc.unit == "" {
					s = pc.from.Format("01-02T15") + "-" + to
				}
				if pc.less {
					s = "less " + s
				}
				pieces = append(pieces, s)
			}
			out = append(out, strings.Join(pieces, ", "))
		}
		return strings.Join(out, " | ")
	}
	nov := time.November
	for _, tc := range []struct {
		from, to time.Time
		keys     bool
		now      time.Time // 20 December 10:00 when zero
		want     string
	}{
		{at(nov, 1, 16), time.Time{}, false, time.Time{}, "11-01T16-11-02T00 | 11-02T00-open"},
		{at(nov, 1, 16), at(nov, 4, 16), false, time.Time{}, "11-01T16-11-02T00 | 11-02T00-11-04T00 | 11-04T00-11-04T16"},
		{at(nov, 2, 0), at(nov, 4, 0), false, time.Time{}, ""},  // whole days already
		{at(nov, 1, 16), at(nov, 2, 8), false, time.Time{}, ""}, // no whole day inside
		{time.Time{}, at(nov, 4, 16), false, time.Time{}, ""},   // open start
		{at(nov, 2, 0), at(nov, 4, 16), false, time.Time{}, "11-02T00-11-04T00 | 11-04T00-11-04T16"},
		{at(12, 20, 4), time.Time{}, false, time.Time{}, ""}, // no whole day before now
		// The per-key rollups: whole months, then weeks of the month, then days.
		{at(10, 1, 0), at(12, 1, 0), true, time.Time{}, "month 10-01T00-12-01T00"},
		{at(10, 28, 0), time.Time{}, true, time.Time{}, "day 10-28T00-10-29T00, week 10-29T00-11-01T00 | month 11-01T00-12-01T00 | month 12-01T00-01-01T00, less day 12-21T00-12-22T00, less week 12-22T00-01-01T00"},
		{at(10, 27, 16), at(12, 3, 5), true, time.Time{}, "10-27T16-10-28T00 | day 10-28T00-10-29T00, week 10-29T00-11-01T00 | month 11-01T00-12-01T00 | day 12-01T00-12-03T00 | 12-03T00-12-03T05"},
		// A month less its other days, when they are fewer.
		{at(10, 2, 0), at(11, 1, 0), true, time.Time{}, "month 10-01T00-11-01T00, less day 10-01T00-10-02T00"},
		{at(10, 18, 0), at(11, 1, 0), true, time.Time{}, "day 10-18T00-10-22T00, week 10-22T00-11-01T00"},
		{at(nov, 3, 0), at(nov, 20, 0), true, time.Time{}, "week 11-01T00-11-08T00, less day 11-01T00-11-03T00, week 11-08T00-11-15T00, week 11-15T00-11-22T00, less day 11-20T00-11-22T00"},
		{at(10, 1, 16), time.Time{}, true, at(10, 31, 10), "10-01T16-10-02T00 | month 10-01T00-11-01T00, less day 10-01T00-10-02T00"},
		// Days after now hold nothing, so they cost nothing.
		{at(12, 2, 0), time.Time{}, true, time.Time{}, "month 12-01T00-01-01T00, less day 12-01T00-12-02T00, less day 12-21T00-12-22T00, less week 12-22T00-01-01T00"},
		{at(12, 5, 0), time.Time{}, true, time.Time{}, "day 12-05T00-12-08T00, week 12-08T00-12-15T00, week 12-15T00-12-22T00, less day 12-21T00-12-22T00"},
	} {
		now := tc.now
		if now.IsZero() {
			now = at(12, 20, 10)
		}
		if got := show(rangeParts(event.Filter{From: tc.from, To: tc.to}, tc.keys, now)); got != tc.want {
			t.Errorf("%v–%v keys %v:\n got %q\nwant %q", tc.from, tc.to, tc.keys, got, tc.want)
		}
	}
}

// The pieces of every range of whole days add up to its days exactly,
// and each month's share reads at most 9 rows per key (two partial weeks
// of 4 and a whole week between).
func TestRangePartsCoverTheirDays(t *testing.T) {
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	worst, worstAt := 0, ""
	last30 := 0 // the console's default: 30 days to now
	for from := 0; from < 75; from++ {
		for to := from + 1; to <= 100; to++ {
			for _, nowDay := range []int{to, to + 3, from + 5, 130} {
				lo, hi := start.AddDate(0, 0, from), start.AddDate(0, 0, to)
				now := start.AddDate(0, 0, nowDay).Add(-time.Hour)
				today := ceilUTC("day", now)
				f := event.Filter{From: lo, To: hi}
				if nowDay == to {
					f.To = time.Time{} // open, up to now
				}
				parts := rangeParts(f, true, now)
				if parts == nil {
					parts = []part{{{from: lo, to: hi, unit: "?"}}}
				}
				counted := map[time.Time]int{}
				n := 0
				for _, p := range parts {
					if r := rows(p, today); len(p) > 1 || p[0].unit != "month" {
						if r > worst {
							worst, worstAt = r, fmt.Sprintf("%v–%v now %v", p[0].from, p[len(p)-1].to, now)
						}
						n += r
					}
					for _, pc := range p {
						for d := pc.from; d.Before(pc.to); d = d.AddDate(0, 0, 1) {
							if pc.less {
								counted[d]--
							} else {
								counted[d]++
							}
						}
					}
				}
				if f.To.IsZero() && to-from == 30 {
					last30 = max(last30, n)
				}
				for d := start; d.Before(start.AddDate(0, 0, 140)); d = d.AddDate(0, 0, 1) {
					want := 0
					if !d.Before(lo) && d.Before(hi) {
						want = 1
					}
					if counted[d] != want && d.Before(today) {
						t.Fatalf("%v–%v (now %v): %v counted %d times in %v", lo, hi, now, d, counted[d], parts)
					}
				}
			}
		}
	}
	if worst > 9 {
		t.Fatalf("%d rows per key for the share %s", worst, worstAt)
	}
	t.Logf("at most %d rows per key for a month's share (%s); at most %d besides whole months for the last 30 days", worst, worstAt, last30)
}

// Usage by key over ranges of whole and partial months reads the monthly,
// weekly and daily per-key rollups (some less the days outside the range)
// and the events for the edges, and still equals the sums of the events.
func TestUsageByKeyAcrossMonths(t *testing.T) {
	now := time.Date(2026, 12, 20, 10, 0, 0, 0, time.UTC)
	s := newSink(t, Options{Now: func() time.Time { return now }})
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
	// A key used only on days a month's rollup has to be rid of.
	lone := testEvent(45, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	lone.KeyID, lone.Currency = "key9", "USD"
	evs = append(evs, lone)
	if err := s.Ship(ctx, records(t, evs...)); err != nil {
		t.Fatal(err)
	}
	utc := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, time.UTC) }
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	novShanghai := time.Date(2026, 11, 1, 0, 0, 0, 0, shanghai)
	read := map[string]int{} // pieces by unit, and those taken away
	for _, uq := range []event.UsageQuery{
		{GroupBy: "key", Filter: event.Filter{From: utc(10, 25, 13), To: utc(12, 5, 7)}},
		{GroupBy: "key", Filter: event.Filter{From: utc(10, 1, 0), To: utc(12, 1, 0)}},
		{GroupBy: "key", Loc: shanghai, Filter: event.Filter{KeyIDs: []string{"key0", "key2"}, From: novShanghai}},
		{GroupBy: "org", Filter: event.Filter{From: utc(10, 28, 0)}},
		{Filter: event.Filter{KeyID: "key1", OrgID: "org2", From: utc(10, 21, 0)}},
		// November less its first days (key9's only) and its last.
		{GroupBy: "key", Filter: event.Filter{From: utc(11, 3, 13), To: utc(11, 28, 7)}},
		{GroupBy: "key", Filter: event.Filter{From: utc(10, 24, 0), To: utc(11, 29, 0)}},
		{Filter: event.Filter{OrgID: "org1", From: utc(11, 4, 0), To: utc(11, 30, 0)}},
		// December so far less its first days, with the edge in Shanghai.
		{GroupBy: "key", Loc: shanghai, Filter: event.Filter{From: time.Date(2026, 12, 5, 0, 0, 0, 0, shanghai)}},
	} {
		for _, p := range rangeParts(uq.Filter, keyRollups(uq), now) {
			for _, pc := range p {
				read[pc.unit]++
				if pc.less {
					read["less"]++
				}
			}
		}
		got, err := s.Queries().Usage(ctx, uq)
		if err != nil {
			t.Fatalf("%+v: %v", uq, err)
		}
		if w := reportOf(uq, evs); !reflect.DeepEqual(got, w) {
			t.Fatalf("%+v:\n got %+v\nwant %+v", uq, got, w)
		}
	}
	if read["month"] == 0 || read["week"] == 0 || read["day"] == 0 || read["less"] < 4 {
		t.Fatalf("pieces read: %v; want every unit, and some taken away", read)
	}
}

// reportOf is the report uq should answer, summed from the events
// themselves.
func reportOf(uq event.UsageQuery, evs []event.Event) *event.UsageReport {
	r := event.NewReport(uq, "postgres")
	for i := range evs {
		if uq.Match(&evs[i]) {
			r.AddEvent(&evs[i])
		}
	}
	return r.Done()
}
