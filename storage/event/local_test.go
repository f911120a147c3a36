package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

// memScanner is a store of encoded events, seq = index + 1.
type memScanner [][]byte

func (m memScanner) ScanBack(before uint64, fn func(uint64, []byte) bool) error {
	if before == 0 || before > uint64(len(m))+1 {
		before = uint64(len(m)) + 1
	}
	for seq := before - 1; seq >= 1; seq-- {
		if !fn(seq, m[seq-1]) {
			return nil
		}
	}
	return nil
}

func TestLocalQueries(t *testing.T) {
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	var m memScanner
	for i := range 20 {
		ev := Event{RequestID: fmt.Sprintf("req_%02d", i), Time: base.Add(time.Duration(i) * 30 * time.Minute),
			OrgID: []string{"a", "b"}[i%2], KeyID: "k", Capability: "llm", Model: "m", Status: 200,
			Usage: Usage{PromptTokens: 1}, CostMicros: 5, Currency: "CNY", RequestBody: "body"}
		if i%5 == 0 {
			ev.Status = 500
		}
		b, _ := json.Marshal(ev)
		m = append(m, b)
	}
	m = append(m, []byte("not an event"))
	l := &Local{Events: m}
	ctx := context.Background()

	r, err := l.Usage(ctx, UsageQuery{Bucket: "hour", GroupBy: "org", Filter: Filter{To: base.Add(5 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "local" || r.Totals.Requests != 10 || r.Totals.Errors != 2 || r.Totals.CostMicros["CNY"] != 50 ||
		len(r.Series) != 5 || r.Series[0].Requests != 2 || len(r.Groups) != 2 || r.Groups[0].Key != "a" || r.Groups[0].Requests != 5 {
		t.Fatalf("report %+v", r)
	}

	var ids []string
	q := AuditQuery{Filter: Filter{OrgID: "a"}, Status: "ok", Limit: 3}
	for {
		p, err := l.Audit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range p.Data {
			if ev.RequestBody != "" {
				t.Fatal("a listed event has its body")
			}
			ids = append(ids, ev.RequestID)
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if fmt.Sprint(ids) != "[req_18 req_16 req_14 req_12 req_08 req_06 req_04 req_02]" {
		t.Fatalf("pages %v", ids)
	}
	if _, err := l.Audit(ctx, AuditQuery{Limit: 1, Cursor: "x"}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
	if ev, err := l.Event(ctx, "req_03"); err != nil || ev.RequestBody != "body" {
		t.Fatalf("event %+v %v", ev, err)
	}
	if _, err := l.Event(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}
