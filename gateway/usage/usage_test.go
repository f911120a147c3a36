package usage

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/outbox"
)

// countingApplier commits through a builder and counts the commands.
type countingApplier struct {
	*fsmtest.Builder
	commands int
}

func (c *countingApplier) Apply(ctx context.Context, cmd fsm.Command) (any, error) {
	c.commands++
	return c.Commit(ctx, cmd)
}

func records(t *testing.T, from uint64, evs ...event.Event) []outbox.Record {
	t.Helper()
	recs := make([]outbox.Record, len(evs))
	for i := range evs {
		b, err := json.Marshal(&evs[i])
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = outbox.Record{Seq: from + uint64(i), Data: b}
	}
	return recs
}

func ev(at time.Time, key, model string, status int, prompt, cost int64) event.Event {
	return event.Event{RequestID: "r", Time: at, OrgID: "org1", KeyID: key, Capability: "llm", Model: model,
		Provider: "p", Status: status, Usage: event.Usage{PromptTokens: prompt, CompletionTokens: 1},
		CostMicros: cost, Currency: "CNY", LatencyMS: 40, RequestBody: `{"big":"body"}`}
}

func TestSinkCountsEveryEventOnceAcrossRetries(t *testing.T) {
	b := fsmtest.New(t)
	app := &countingApplier{Builder: b}
	at := time.Date(2026, 11, 25, 15, 59, 0, 0, time.UTC)
	b.Now = func() time.Time { return at.Add(time.Minute) }
	all := records(t, 1,
		ev(at, "k1", "m1", 200, 10, 100), ev(at, "k1", "m1", 200, 20, 200), ev(at.Add(time.Minute), "k1", "m1", 200, 5, 50),
		ev(at, "k2", "m2", 502, 0, 0), ev(at, "k2", "m2", 200, 1, 1))
	s := &Sink{Stream: "node-a", Cluster: app, State: b}
	if err := s.Ship(context.Background(), all[:3]); err != nil {
		t.Fatal(err)
	}
	// A crash before the ack: the shipper sends from the old cursor again,
	// with more events this time. A fresh sink (a restarted node) reads
	// the mark from the state; this one remembers it.
	for _, sink := range []*Sink{{Stream: "node-a", Cluster: app, State: b}, s} {
		if err := sink.Ship(context.Background(), all); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := (&Counters{State: b}).Usage(context.Background(), event.UsageQuery{GroupBy: "key", Bucket: "hour"})
	if err != nil {
		t.Fatal(err)
	}
	tot := rep.Totals
	if tot.Requests != 5 || tot.Errors != 1 || tot.PromptTokens != 36 || tot.CompletionTokens != 5 || tot.CostMicros["CNY"] != 351 ||
		tot.LatencyMSTotal != 5*40 || tot.MeanLatencyMS() != 40 {
		t.Fatalf("totals %+v", tot)
	}
	if len(rep.Groups) != 2 || rep.Groups[0].Key != "k1" || rep.Groups[0].Requests != 3 || rep.Groups[1].Requests != 2 {
		t.Fatalf("groups %+v", rep.Groups)
	}
	if len(rep.Series) != 2 || rep.Series[0].Requests != 4 || !rep.Series[1].Time.Equal(at.Add(time.Minute)) {
		t.Fatalf("series %+v", rep.Series)
	}
	// The first batch; the rest, from the fresh sink; and the old sink's
	// stale try, refused, after which it had nothing left to send.
	if app.commands != 3 {
		t.Fatalf("%d commands, want 3", app.commands)
	}
}

func TestCountersAnswerInTheQueryTimeZone(t *testing.T) {
	b := fsmtest.New(t)
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	// 15:30 UTC is 23:30 in Shanghai; 16:30 UTC is the next day there.
	at := time.Date(2026, 11, 25, 15, 30, 0, 0, time.UTC)
	b.Now = func() time.Time { return at.Add(2 * time.Hour) }
	s := &Sink{Stream: "n", Cluster: &countingApplier{Builder: b}, State: b}
	if err := s.Ship(context.Background(), records(t, 1, ev(at, "k1", "m1", 200, 1, 1), ev(at.Add(time.Hour), "k1", "m1", 200, 1, 1))); err != nil {
		t.Fatal(err)
	}
	c := &Counters{State: b}
	for _, tc := range []struct {
		loc    *time.Location
		points int
	}{{time.UTC, 1}, {shanghai, 2}} {
		rep, err := c.Usage(context.Background(), event.UsageQuery{Bucket: "day", Loc: tc.loc})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Series) != tc.points || rep.TZ != tc.loc.String() {
			t.Fatalf("%s: %d day buckets (tz %s), want %d", tc.loc, len(rep.Series), rep.TZ, tc.points)
		}
		if tc.loc == shanghai && !rep.Series[1].Time.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, shanghai)) {
			t.Fatalf("second Shanghai day starts %v", rep.Series[1].Time)
		}
	}
	// Filters: an unknown model counts nothing, and costs still come as
	// an object.
	rep, _ := c.Usage(context.Background(), event.UsageQuery{Filter: event.Filter{Model: "nope"}})
	if rep.Totals.Requests != 0 || rep.Totals.CostMicros == nil {
		t.Fatalf("filtered: %+v", rep.Totals)
	}
}

func TestSinkRecordsEachKeysLastUse(t *testing.T) {
	b := fsmtest.New(t)
	b.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: "k1", OrgID: "org1", Name: "k",
		Prefix: "gk_x", Hash: "0000000000000000000000000000000000000000000000000000000000000001", Scopes: fsm.Capabilities}})
	at := time.Date(2026, 11, 25, 15, 59, 0, 0, time.UTC)
	s := &Sink{Stream: "node-a", Cluster: &countingApplier{Builder: b}, State: b}
	if err := s.Ship(context.Background(), records(t, 1, ev(at.Add(time.Minute), "k1", "m1", 200, 1, 1), ev(at, "k1", "m1", 200, 1, 1))); err != nil {
		t.Fatal(err)
	}
	if got := b.View().LastUsed("k1"); !got.Equal(at.Add(time.Minute)) {
		t.Fatalf("last use %v, want %v", got, at.Add(time.Minute))
	}
}
