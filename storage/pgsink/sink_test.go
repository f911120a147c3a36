package pgsink

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/outbox"
	"github.com/tensorgate/tensorgate/storage/pgsink/pgtest"
)

// newSink migrates a fresh database and opens a sink on it.
func newSink(t testing.TB, opts Options) *Sink {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	if _, err := Migrate(context.Background(), dsn, nil); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func testEvent(i int, at time.Time) event.Event {
	return event.Event{
		RequestID: fmt.Sprintf("req_%04d", i), Time: at, Node: "n1", OrgID: "org1", KeyID: fmt.Sprintf("key%d", i%2),
		Capability: "llm", Model: "qwen-plus", Provider: "dashscope", UpstreamModel: "qwen-plus", Status: 200,
		Usage:      event.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15},
		CostMicros: 100, Currency: "CNY", LatencyMS: 12, UpstreamMS: 10, TTFBMS: 3,
		Attempts:    []event.Attempt{{Provider: "dashscope", Model: "qwen-plus", Result: "ok", Duration: 10 * time.Millisecond}},
		RequestBody: `{"messages":[]}`, ResponseBody: "hello",
	}
}

func records(t testing.TB, evs ...event.Event) []outbox.Record {
	t.Helper()
	out := make([]outbox.Record, len(evs))
	for i, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = outbox.Record{Seq: uint64(i + 1), Data: b}
	}
	return out
}

func TestShipIsExactlyOnceWithRollups(t *testing.T) {
	s := newSink(t, Options{})
	ctx := context.Background()
	day := time.Date(2026, 11, 25, 23, 59, 59, 0, time.UTC)
	var evs []event.Event
	for i := range 10 {
		ev := testEvent(i, day.Add(time.Duration(i)*time.Second)) // five cross midnight
		ev.OwnKey = i%4 == 1                                      // an org's own upstream key
		evs = append(evs, ev)
	}
	failed := testEvent(99, day)
	failed.Status, failed.ErrorCode, failed.Usage, failed.CostMicros = 502, "upstream_error", event.Usage{}, 0
	failed.RequestBody = "nul\x00byte and bad utf8 \xff"
	failed.Attempts = []event.Attempt{{Provider: "dashscope", Result: "server", Status: 500, Error: "boom\x00"}}
	evs = append(evs, failed)
	recs := records(t, evs...)
	recs = append(recs, outbox.Record{Seq: 99, Data: []byte("not json")})
	// The same batch three times, and an overlapping one: nothing doubles.
	for range 3 {
		if err := s.Ship(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Ship(ctx, recs[3:6]); err != nil {
		t.Fatal(err)
	}
	var rows, distinct int
	if err := s.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT request_id) FROM audit_events`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != 11 || distinct != 11 {
		t.Fatalf("%d rows, %d distinct; want 11", rows, distinct)
	}
	type rollup struct {
		day                             string
		requests, errors, prompt, costs int64
	}
	r, err := s.pool.Query(ctx, `SELECT day::text, sum(requests)::bigint, sum(errors)::bigint, sum(prompt_tokens)::bigint, sum(cost_micros)::bigint
		FROM billing_daily GROUP BY day ORDER BY day`)
	if err != nil {
		t.Fatal(err)
	}
	var got []rollup
	for r.Next() {
		var x rollup
		if err := r.Scan(&x.day, &x.requests, &x.errors, &x.prompt, &x.costs); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	want := []rollup{{"2026-11-25", 2, 1, 10, 100}, {"2026-11-26", 9, 0, 90, 900}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rollups %v, want %v", got, want)
	}
	// Calls on an org's own key are marked, and counted apart in the bill.
	var ownRows, ownReq, ownCost, ownEventCost int64
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_events WHERE own_key), (SELECT sum(cost_micros) FROM audit_events WHERE own_key),
		sum(own_key_requests)::bigint, sum(own_key_cost_micros)::bigint FROM billing_daily`).Scan(&ownRows, &ownEventCost, &ownReq, &ownCost); err != nil {
		t.Fatal(err)
	}
	if ownRows != 3 || ownReq != 3 || ownCost != ownEventCost || ownCost == 0 {
		t.Fatalf("own-key rows %d, billed %d requests and %d (events %d)", ownRows, ownReq, ownCost, ownEventCost)
	}
	// The hourly rollups (kept by the trigger) count each event once too.
	var hourly, hourlyErrs, hourlyCost, hourlyOwn int64
	if err := s.pool.QueryRow(ctx, `SELECT sum(requests)::bigint, sum(errors)::bigint, sum(cost_micros)::bigint, sum(own_key_requests)::bigint
		FROM billing_hourly`).Scan(&hourly, &hourlyErrs, &hourlyCost, &hourlyOwn); err != nil {
		t.Fatal(err)
	}
	if hourly != 11 || hourlyErrs != 1 || hourlyCost != 1000 || hourlyOwn != 3 {
		t.Fatalf("hourly rollups: %d requests, %d errors, cost %d, own %d", hourly, hourlyErrs, hourlyCost, hourlyOwn)
	}
	for _, table := range []string{"billing_key_daily", "billing_key_weekly", "billing_key_monthly"} {
		var byKey, byKeyCost int64
		if err := s.pool.QueryRow(ctx, `SELECT sum(requests)::bigint, sum(cost_micros)::bigint FROM `+table).Scan(&byKey, &byKeyCost); err != nil {
			t.Fatal(err)
		}
		if byKey != 11 || byKeyCost != 1000 {
			t.Fatalf("%s: %d requests, cost %d", table, byKey, byKeyCost)
		}
	}
	// The failover chain and the bodies come back as stored.
	var attempts []event.Attempt
	var body string
	if err := s.pool.QueryRow(ctx, `SELECT attempts, request_body FROM audit_events WHERE request_id = 'req_0099'`).Scan(&attempts, &body); err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 1 || attempts[0].Status != 500 || attempts[0].Error != "boom" || body != "nulbyte and bad utf8 \uFFFD" {
		t.Fatalf("attempts %+v body %q", attempts, body)
	}
}

func TestRetentionDropsOldPartitions(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s := newSink(t, Options{RetentionDays: 7, Now: func() time.Time { return now }})
	ctx := context.Background()
	old, kept := testEvent(1, now.AddDate(0, 0, -8)), testEvent(2, now.AddDate(0, 0, -7))
	if err := s.Ship(ctx, records(t, old, kept)); err != nil {
		t.Fatal(err)
	}
	if err := s.MaintainOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	r, err := s.pool.Query(ctx, `SELECT request_id FROM audit_events ORDER BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var id string
		_ = r.Scan(&id)
		ids = append(ids, id)
	}
	if fmt.Sprint(ids) != "[req_0002]" {
		t.Fatalf("rows after retention %v", ids)
	}
	// Partitions exist ahead of need, and billing rollups outlive retention.
	var parts, billed int
	_ = s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname IN ('audit_events_20261125','audit_events_20261126','audit_events_20261127')`).Scan(&parts)
	_ = s.pool.QueryRow(ctx, `SELECT sum(requests) FROM billing_daily`).Scan(&billed)
	if parts != 3 || billed != 2 {
		t.Fatalf("%d partitions ahead, %d billed requests", parts, billed)
	}
	// Maintenance is idempotent.
	if err := s.MaintainOnce(ctx); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkShip measures the sink's throughput in events per second, in
// batches of 1000 typical events (1 KiB of bodies each).
func BenchmarkShip(b *testing.B) {
	s := newSink(b, Options{})
	ctx := context.Background()
	base := time.Now().UTC()
	batch := func(n int) []outbox.Record {
		evs := make([]event.Event, 1000)
		for i := range evs {
			evs[i] = testEvent(n+i, base.Add(time.Duration(n+i)*time.Microsecond))
			evs[i].RequestBody = fmt.Sprintf(`{"model":"qwen-plus","messages":[{"role":"user","content":"%0500d"}]}`, n+i)
			evs[i].ResponseBody = fmt.Sprintf("%0500d", n+i)
		}
		return records(b, evs...)
	}
	n := 0
	for b.Loop() {
		b.StopTimer()
		recs := batch(n)
		n += len(recs)
		b.StartTimer()
		if err := s.Ship(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
