package pgsink

import (
	"context"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

// TestEveryUnitIsStoredAndRolledUp ships an event with a different figure
// in each billing unit and finds each figure in its column of the events
// and of every rollup the migrations' triggers keep, in the event read
// back, and in usage reports from the events and from the rollups. A new
// unit whose migration forgets a table or a trigger fails here.
func TestEveryUnitIsStoredAndRolledUp(t *testing.T) {
	s := newSink(t, Options{})
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)
	ev := testEvent(1, at)
	want := func(i int) int64 { return int64(i+1)*1000 + 7 }
	for i, f := range ev.Usage.Figures() {
		*f = want(i)
	}
	if err := s.Ship(ctx, records(t, ev)); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"audit_events", "billing_daily", "billing_hourly", "billing_key_daily",
		"billing_key_weekly", "billing_key_monthly"} {
		for i, u := range fsm.Units {
			var got int64
			if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(`+u.Column+`), 0)::bigint FROM `+table).Scan(&got); err != nil {
				t.Fatalf("%s.%s: %v", table, u.Column, err)
			}
			if got != want(i) {
				t.Errorf("%s.%s: got %d, want %d", table, u.Column, got, want(i))
			}
		}
	}
	back, err := s.Queries().Event(ctx, ev.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range back.Usage.Figures() {
		if *f != want(i) {
			t.Errorf("event read back: %s got %d, want %d", fsm.Units[i].Name, *f, want(i))
		}
	}
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for _, uq := range []event.UsageQuery{
		{GroupBy: "model", Filter: event.Filter{From: at.Add(-time.Minute), To: at.Add(time.Minute)}}, // the events
		{Bucket: "day", Filter: event.Filter{From: day, To: day.AddDate(0, 0, 1)}},                    // a daily rollup
		{GroupBy: "key"}, // the per-key rollups
	} {
		table, _, _, _ := usageSource(uq)
		rep, err := s.Queries().Usage(ctx, uq)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		for i, f := range rep.Totals.Figures() {
			if *f != want(i) {
				t.Errorf("usage from %s: %s got %d, want %d", table, fsm.Units[i].Name, *f, want(i))
			}
		}
	}
}
