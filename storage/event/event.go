// Package event defines the billing and audit record of one data-plane
// request: the gateway writes it to the outbox, the sinks ship it to
// Postgres and GreptimeDB, and the admin API reads it back.
//
// The JSON encoding is stored on disk and shipped between versions: add
// fields freely, never rename or reuse one.
package event

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// Usage is what a request consumed, in its capability's units: a field
// per entry of fsm.Units (see Figures), named as the unit, and the token
// counts the upstream reported besides.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens,omitempty"`
	CompletionTokens int64 `json:"completion_tokens,omitempty"`
	TotalTokens      int64 `json:"total_tokens,omitempty"`
	CachedTokens     int64 `json:"cached_tokens,omitempty"`
	Images           int64 `json:"images,omitempty"`
	Seconds          int64 `json:"seconds,omitempty"`
	Pages            int64 `json:"pages,omitempty"`
	Characters       int64 `json:"characters,omitempty"`
	// Estimated is set when the upstream reported no usage and the gateway
	// estimated it.
	Estimated bool `json:"estimated,omitempty"`
}

// Figures returns u's figure of each billing unit.
func (u *Usage) Figures() fsm.Figures {
	return [...]*int64{&u.PromptTokens, &u.CompletionTokens, &u.Images, &u.Seconds, &u.Pages, &u.Characters}
}

// Tokens is the sum of u's token units: what counts against TPM limits.
func (u *Usage) Tokens() int64 {
	var n int64
	for i, f := range u.Figures() {
		if fsm.Units[i].Token {
			n += *f
		}
	}
	return n
}

// Attempt is one upstream try of a request, a link of its failover chain.
type Attempt struct {
	Provider string        `json:"provider"`
	Model    string        `json:"model"`
	Result   string        `json:"result"` // "ok" or the failure's class
	Status   int           `json:"status,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Event is the record of one authenticated data-plane request, whatever
// its outcome, keyed by its request id.
type Event struct {
	RequestID     string    `json:"request_id"`
	Time          time.Time `json:"time"` // when the request arrived, UTC, microseconds
	Node          string    `json:"node"`
	OrgID         string    `json:"org_id"`
	KeyID         string    `json:"key_id"`
	Capability    string    `json:"capability"`
	Model         string    `json:"model"`
	Provider      string    `json:"provider,omitempty"`
	UpstreamModel string    `json:"upstream_model,omitempty"`
	Stream        bool      `json:"stream,omitempty"`
	Status        int       `json:"status"`
	ErrorCode     string    `json:"error_code,omitempty"`
	Usage         Usage     `json:"usage"`
	CostMicros    int64     `json:"cost_micros"`
	Currency      string    `json:"currency,omitempty"`
	LatencyMS     int64     `json:"latency_ms"`
	UpstreamMS    int64     `json:"upstream_ms"`
	TTFBMS        int64     `json:"ttfb_ms"`
	Attempts      []Attempt `json:"attempts"`
	// OwnKey is set when the call went upstream with the org's own key
	// for the provider, not the system's.
	OwnKey bool `json:"own_key,omitempty"`
	// Bodies, size-capped and with secrets redacted. For a stream the
	// response is the assembled text.
	RequestBody       string `json:"request_body,omitempty"`
	ResponseBody      string `json:"response_body,omitempty"`
	RequestBytes      int64  `json:"request_bytes,omitempty"`  // size before capping
	ResponseBytes     int64  `json:"response_bytes,omitempty"` // size before capping
	RequestTruncated  bool   `json:"request_truncated,omitempty"`
	ResponseTruncated bool   `json:"response_truncated,omitempty"`
	// BodiesDropped is set when the outbox was full and the node kept
	// serving by storing events without their bodies.
	BodiesDropped bool `json:"bodies_dropped,omitempty"`
	// Spends are what the request spent of each cluster-wide limit (RPM,
	// TPM, budgets) and the lease it came from: the durable record a node
	// back from a crash settles its leases with. The sinks ignore it.
	Spends []Spend `json:"spends,omitempty"`
}

// Spend is what a request spent of one limit's lease.
type Spend struct {
	Key   string `json:"key"` // the quota key, "org:<id>:budget"
	Lease uint64 `json:"lease"`
	Units int64  `json:"units"`
}

// Decode parses a stored event.
func Decode(b []byte) (*Event, error) {
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if ev.RequestID == "" {
		return nil, fmt.Errorf("decode event: no request_id")
	}
	return &ev, nil
}

// StatusClass buckets an HTTP status for low-cardinality labels: "2xx",
// "4xx", "5xx" (and "other").
func StatusClass(status int) string {
	switch {
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	}
	return "other"
}
