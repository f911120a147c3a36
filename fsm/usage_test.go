package fsm_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

func usageRow(start time.Time, key string, c fsm.UsageCount) fsm.UsageRow {
	return fsm.UsageRow{Start: start.Unix(), Span: 3600, UsageDims: fsm.UsageDims{Org: "org1", Key: key, Model: "m",
		Capability: "llm", Provider: "p", Currency: "CNY"}, UsageCount: c}
}

// usageTotal sums every counter of the state.
func usageTotal(s *fsm.State, from, to time.Time) (n fsm.UsageCount, rows int) {
	s.UsageRows(from, to, func(r fsm.UsageRow) { n.Add(r.UsageCount); rows++ })
	return n, rows
}

func TestUsageCountsEachBatchOnce(t *testing.T) {
	b := fsmtest.New(t)
	h := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	b.Now = func() time.Time { return h.Add(90 * time.Minute) }
	add := func(from, to uint64, rows ...fsm.UsageRow) *fsm.UsageAddResult {
		t.Helper()
		return fsmtest.ApplyAs[fsm.UsageAddResult](b, fsm.TypeUsageAdd, fsm.UsageAddBody{Stream: "s1", From: from, To: to, Rows: rows})
	}
	one := fsm.UsageCount{Requests: 1, PromptTokens: 10, CostMicros: 7}
	if r := add(1, 3, usageRow(h, "k1", fsm.UsageCount{Requests: 3, PromptTokens: 30, CostMicros: 21})); !r.Counted || r.Mark != 3 {
		t.Fatalf("first batch: %+v", r)
	}
	// The same events again, and a batch overlapping them: refused with
	// the mark, nothing counted.
	for _, from := range []uint64{1, 3} {
		if r := add(from, 5, usageRow(h, "k1", one)); r.Counted || r.Mark != 3 {
			t.Fatalf("overlap from %d: %+v", from, r)
		}
	}
	if r := add(4, 4, usageRow(h.Add(time.Hour), "k1", one), usageRow(h, "k2", one)); !r.Counted || r.Mark != 4 {
		t.Fatalf("next batch: %+v", r)
	}
	// Another node's stream has its own mark.
	if r := b.Apply(fsm.TypeUsageAdd, fsm.UsageAddBody{Stream: "s2", From: 1, To: 1, Rows: []fsm.UsageRow{usageRow(h, "k1", one)}}).(*fsm.UsageAddResult); !r.Counted {
		t.Fatalf("stream s2: %+v", r)
	}
	got, rows := usageTotal(b.View(), time.Time{}, time.Time{})
	if got != (fsm.UsageCount{Requests: 6, PromptTokens: 60, CostMicros: 42}) || rows != 3 {
		t.Fatalf("totals %+v in %d rows", got, rows)
	}
	// A range selects the slots it overlaps: 10:30-10:31 is the 10:00 hour.
	if got, _ := usageTotal(b.View(), h.Add(30*time.Minute), h.Add(31*time.Minute)); got.Requests != 5 {
		t.Fatalf("10:00 hour: %+v", got)
	}
	if got, _ := usageTotal(b.View(), h.Add(time.Hour), time.Time{}); got.Requests != 1 {
		t.Fatalf("from 11:00: %+v", got)
	}
	if b.View().UsageMark("s1") != 4 || b.View().UsageMark("s2") != 1 || b.View().UsageMark("s3") != 0 {
		t.Fatal("marks")
	}
}

func TestUsageFoldsOldHoursIntoDaysAndForgetsOldDays(t *testing.T) {
	b := fsmtest.New(t)
	day := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	now := day.Add(5 * time.Hour)
	b.Now = func() time.Time { return now }
	seq := uint64(0)
	add := func(rows ...fsm.UsageRow) {
		t.Helper()
		seq++
		b.Apply(fsm.TypeUsageAdd, fsm.UsageAddBody{Stream: "s", From: seq, To: seq, Rows: rows})
	}
	one := fsm.UsageCount{Requests: 1}
	add(usageRow(day.Add(1*time.Hour), "k", one), usageRow(day.Add(2*time.Hour), "k", one), usageRow(day.Add(2*time.Hour), "k2", one))
	// 33 days on, the day's hours are past the hourly retention: they
	// fold into one daily slot per counter, totals unchanged.
	now = day.Add(33 * 24 * time.Hour)
	add(usageRow(now.Truncate(time.Hour), "k", one))
	var spans []int64
	b.View().UsageRows(day, day.Add(24*time.Hour), func(r fsm.UsageRow) { spans = append(spans, r.Span) })
	if len(spans) != 2 || spans[0] != 86400 || spans[1] != 86400 {
		t.Fatalf("after the fold the day has rows of spans %v, want two daily rows", spans)
	}
	if got, _ := usageTotal(b.View(), time.Time{}, time.Time{}); got.Requests != 4 {
		t.Fatalf("totals after the fold: %+v", got)
	}
	// A late row for that old day lands in its daily slot.
	add(usageRow(day.Add(3*time.Hour), "k", one))
	if got, rows := usageTotal(b.View(), day, day.Add(time.Hour)); got.Requests != 4 || rows != 2 {
		t.Fatalf("day after a late row: %+v in %d rows", got, rows)
	}
	// 401 days on, the day is gone.
	now = day.Add(401 * 24 * time.Hour)
	add()
	if got, _ := usageTotal(b.View(), day, day.Add(24*time.Hour)); got.Requests != 0 {
		t.Fatalf("a day past retention still counts %+v", got)
	}
}

func TestUsageAddRejectsBadBatches(t *testing.T) {
	b := fsmtest.New(t)
	h := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for name, body := range map[string]fsm.UsageAddBody{
		"no stream":   {From: 1, To: 1},
		"zero from":   {Stream: "s", From: 0, To: 1},
		"to < from":   {Stream: "s", From: 3, To: 2},
		"not an hour": {Stream: "s", From: 1, To: 1, Rows: []fsm.UsageRow{usageRow(h.Add(time.Minute), "k", fsm.UsageCount{Requests: 1})}},
		"negative":    {Stream: "s", From: 1, To: 1, Rows: []fsm.UsageRow{usageRow(h, "k", fsm.UsageCount{Requests: -1})}},
		"last use":    {Stream: "s", From: 1, To: 1, LastUsed: map[string]int64{"k": -1}},
	} {
		if _, err := b.Commit(context.Background(), fsm.Command{Type: fsm.TypeUsageAdd, Time: h, Body: body}); !fsm.IsCode(err, fsm.CodeInvalid) {
			t.Errorf("%s: err %v, want invalid", name, err)
		}
	}
}

func TestUsageCountersSurviveSnapshots(t *testing.T) {
	b := fsmtest.New(t)
	day := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	now := day.Add(40 * 24 * time.Hour)
	b.Now = func() time.Time { return now }
	b.Apply(fsm.TypeUsageAdd, fsm.UsageAddBody{Stream: "s", From: 1, To: 9, Rows: []fsm.UsageRow{
		usageRow(day, "k", fsm.UsageCount{Requests: 2, Images: 3}), // folded into a day at once
		usageRow(now.Truncate(time.Hour), "k", fsm.UsageCount{Requests: 1, Characters: 12}),
	}})
	var buf bytes.Buffer
	if err := fsm.WriteSnapshot(&buf, b.View()); err != nil {
		t.Fatal(err)
	}
	s, err := fsm.ReadSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want, wantRows := usageTotal(b.View(), time.Time{}, time.Time{})
	got, rows := usageTotal(s, time.Time{}, time.Time{})
	if got != want || rows != wantRows || rows != 2 || s.UsageMark("s") != 9 {
		t.Fatalf("restored %+v in %d rows (mark %d), want %+v in %d", got, rows, s.UsageMark("s"), want, wantRows)
	}
	// The snapshot is deterministic.
	var again bytes.Buffer
	if err := fsm.WriteSnapshot(&again, s); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatal("snapshot of the restored state differs")
	}
}

func TestKeysLastUseIsKeptForKnownKeysOnly(t *testing.T) {
	b := fsmtest.New(t)
	b.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: "k", OrgID: "org1", Name: "k",
		Prefix: "gk_x", Hash: "0000000000000000000000000000000000000000000000000000000000000001", Scopes: fsm.Capabilities}})
	at := time.Date(2026, 11, 26, 9, 30, 5, 0, time.UTC)
	b.Apply(fsm.TypeUsageAdd, fsm.UsageAddBody{Stream: "a", From: 1, To: 2, LastUsed: map[string]int64{"k": at.Unix(), "ghost": at.Unix()}})
	// An older batch from another node does not move it back.
	b.Apply(fsm.TypeUsageAdd, fsm.UsageAddBody{Stream: "b", From: 1, To: 1, LastUsed: map[string]int64{"k": at.Unix() - 60}})
	if got := b.View().LastUsed("k"); !got.Equal(at) {
		t.Fatalf("last use %v, want %v", got, at)
	}
	if got := b.View().LastUsed("ghost"); !got.IsZero() {
		t.Fatalf("a key the cluster does not know has a last use: %v", got)
	}
	var buf bytes.Buffer
	if err := fsm.WriteSnapshot(&buf, b.View()); err != nil {
		t.Fatal(err)
	}
	s, err := fsm.ReadSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.LastUsed("k"); !got.Equal(at) {
		t.Fatalf("restored last use %v, want %v", got, at)
	}
}
