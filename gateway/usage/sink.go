// Package usage keeps the cluster's usage counters: a sink ships each
// node's events from its outbox into replicated hourly counters (one raft
// command per batch, counted exactly once), and Counters answers usage
// queries from them on any node, with no Postgres.
package usage

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/outbox"
)

// SinkName is the outbox sink the counters ship through.
const SinkName = "counters"

// Applier commits a command through raft.
type Applier interface {
	Apply(ctx context.Context, c fsm.Command) (any, error)
}

// Viewer reads the replicated state.
type Viewer interface {
	View() *fsm.State
}

// Sink adds shipped events to the replicated counters.
type Sink struct {
	// Stream names the outbox the events come from (outbox.ID).
	Stream  string
	Cluster Applier
	State   Viewer
	// mark is the last event known counted; 0 until the first answer,
	// and then the fsm's view is read instead.
	mark atomic.Uint64
}

var _ outbox.Sink = (*Sink)(nil)

// Name implements outbox.Sink.
func (s *Sink) Name() string { return SinkName }

// counted is the light form of an event: what the counters need, so the
// bodies are skipped rather than decoded.
type counted struct {
	Time       time.Time `json:"time"`
	OrgID      string    `json:"org_id"`
	KeyID      string    `json:"key_id"`
	Capability string    `json:"capability"`
	Model      string    `json:"model"`
	Provider   string    `json:"provider"`
	Status     int       `json:"status"`
	Usage      struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
		Images           int64 `json:"images"`
		Seconds          int64 `json:"seconds"`
		Pages            int64 `json:"pages"`
		Characters       int64 `json:"characters"`
	} `json:"usage"`
	CostMicros int64  `json:"cost_micros"`
	Currency   string `json:"currency"`
	LatencyMS  int64  `json:"latency_ms"`
}

type slotKey struct {
	start int64
	fsm.UsageDims
}

// Ship implements outbox.Sink: it sums recs into hourly rows and commits
// them as one command. Events already counted (a batch sent again after a
// crash) are dropped first, so each event counts once.
func (s *Sink) Ship(ctx context.Context, recs []outbox.Record) error {
	mark := s.mark.Load()
	if mark == 0 {
		mark = s.State.View().UsageMark(s.Stream)
	}
	for {
		for len(recs) > 0 && recs[0].Seq <= mark {
			recs = recs[1:]
		}
		if len(recs) == 0 {
			return nil
		}
		rows, last := Summarize(recs)
		body := fsm.UsageAddBody{Stream: s.Stream, From: recs[0].Seq, To: recs[len(recs)-1].Seq, Rows: rows, LastUsed: last}
		r, err := fsm.Propose[fsm.UsageAddResult](ctx, s.Cluster, fsm.Command{Type: fsm.TypeUsageAdd,
			ID: fmt.Sprintf("usage:%s:%d-%d", body.Stream, body.From, body.To), Body: body})
		if err != nil {
			return fmt.Errorf("add usage of events %d-%d to the counters: %w", body.From, body.To, err)
		}
		s.mark.Store(r.Mark)
		if r.Counted {
			return nil
		}
		mark = r.Mark
	}
}

// Summarize sums events into hourly counter rows and finds each key's
// latest event (Unix seconds). An event that does not decode is left out:
// it carries nothing the counters could use.
func Summarize(recs []outbox.Record) ([]fsm.UsageRow, map[string]int64) {
	sums := map[slotKey]*fsm.UsageCount{}
	last := map[string]int64{}
	var order []slotKey
	for _, r := range recs {
		var ev counted
		if err := json.Unmarshal(r.Data, &ev); err != nil {
			continue
		}
		if ev.Time.Unix() < 0 {
			continue // no time: no slot to count it in
		}
		k := slotKey{start: ev.Time.Unix() - ev.Time.Unix()%3600, UsageDims: fsm.UsageDims{Org: ev.OrgID, Key: ev.KeyID,
			Model: ev.Model, Capability: ev.Capability, Provider: ev.Provider, Currency: ev.Currency}}
		if ev.KeyID != "" && ev.Time.Unix() > last[ev.KeyID] {
			last[ev.KeyID] = ev.Time.Unix()
		}
		c := sums[k]
		if c == nil {
			c = &fsm.UsageCount{}
			sums[k] = c
			order = append(order, k)
		}
		errs := int64(0)
		if ev.Status >= 400 {
			errs = 1
		}
		// The fsm refuses negative counts, and one refused row would
		// hold the whole stream back: a negative figure counts as none.
		u := ev.Usage
		c.Add(fsm.UsageCount{Requests: 1, Errors: errs, PromptTokens: max(0, u.PromptTokens),
			CompletionTokens: max(0, u.CompletionTokens), Images: max(0, u.Images), Seconds: max(0, u.Seconds),
			Pages: max(0, u.Pages), Characters: max(0, u.Characters), CostMicros: max(0, ev.CostMicros), LatencyMS: max(0, ev.LatencyMS)})
	}
	rows := make([]fsm.UsageRow, 0, len(order))
	for _, k := range order {
		rows = append(rows, fsm.UsageRow{Start: k.start, Span: 3600, UsageDims: k.UsageDims, UsageCount: *sums[k]})
	}
	return rows, last
}
