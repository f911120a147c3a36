package gateway

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/provider"
)

// Recorder stores usage events durably; the node's outbox fills it in.
type Recorder interface {
	Append(ctx context.Context, event []byte) (uint64, error)
}

// Event is the billing and audit record of one authenticated data-plane
// request, whatever its outcome, keyed by its request id.
type Event struct {
	RequestID     string         `json:"request_id"`
	Time          time.Time      `json:"time"`
	Node          string         `json:"node"`
	OrgID         string         `json:"org_id"`
	KeyID         string         `json:"key_id"`
	Capability    string         `json:"capability"`
	Model         string         `json:"model"`
	Provider      string         `json:"provider,omitempty"`
	UpstreamModel string         `json:"upstream_model,omitempty"`
	Stream        bool           `json:"stream,omitempty"`
	Status        int            `json:"status"`
	ErrorCode     string         `json:"error_code,omitempty"`
	Usage         provider.Usage `json:"usage"`
	CostMicros    int64          `json:"cost_micros"`
	Currency      string         `json:"currency,omitempty"`
	LatencyMS     int64          `json:"latency_ms"`
	UpstreamMS    int64          `json:"upstream_ms"`
	TTFBMS        int64          `json:"ttfb_ms"`
	Attempts      []Attempt      `json:"attempts"`
}

// price returns the cost of usage at the model's price, trying the
// upstream model's name, then the name the client used.
func price(state *fsm.State, upstream, model string, u provider.Usage) (int64, string) {
	p := state.Prices[upstream]
	if p == nil {
		p = state.Prices[model]
	}
	if p == nil {
		return 0, ""
	}
	cost := fsm.Cost(p.Rates[fsm.UnitPromptToken], u.PromptTokens) +
		fsm.Cost(p.Rates[fsm.UnitCompletionToken], u.CompletionTokens) +
		fsm.Cost(p.Rates[fsm.UnitImage], u.Images) +
		fsm.Cost(p.Rates[fsm.UnitSecond], u.Seconds) +
		fsm.Cost(p.Rates[fsm.UnitPage], u.Pages) +
		fsm.Cost(p.Rates[fsm.UnitCharacter], u.Characters)
	return cost, p.Currency
}

// record makes the event durable before the response's last byte leaves:
// a crash after the client saw a complete answer never loses its record.
// A failing outbox does not fail the request; it is logged and counted.
func (s *Server) record(ev *Event) {
	if s.recorder == nil {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		s.log.Error("encode usage event", "request_id", ev.RequestID, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.recorder.Append(ctx, b); err != nil {
		s.metrics.recordFailures.Inc()
		s.log.Error("could not store a usage event; the request is served but its record is missing",
			"request_id", ev.RequestID, "err", err)
	}
}
