package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/storage/diskguard"
	"github.com/tensorgate/tensorgate/storage/event"
)

// Recorder stores usage events durably; the node's outbox fills it in.
type Recorder interface {
	Append(ctx context.Context, event []byte) (uint64, error)
}

// Space reports whether the node's disk is below its reserve.
type Space interface {
	Full() bool
}

// storageFull is the answer to a request the node cannot record.
func storageFull() *apierr.Error {
	e := apierr.New(apierr.CodeStorageFull, "this node's disk is full, so it cannot record requests; retry later or on another node")
	e.RetryAfter = 5 * time.Second
	return e
}

// roomToRecord refuses a request up front, before anything is spent on
// it, while the node's disk is below its reserve: its event could not be
// stored, and an answer whose record is lost must never be given.
func (s *Server) roomToRecord() error {
	if s.space != nil && s.space.Full() {
		return storageFull()
	}
	return nil
}

// fullReporter is a Recorder that can run out of room: its backlog of
// unshipped events has reached the configured size.
type fullReporter interface {
	Full() bool
}

// What a node does when its outbox is full.
const (
	// OutboxDropBodies keeps serving and stores events without their
	// request and response bodies (the default).
	OutboxDropBodies = "drop-bodies"
	// OutboxReject refuses new requests with 503 until the backlog
	// drains: nothing is served that cannot be recorded in full.
	OutboxReject = "reject"
)

// outboxFull reports whether the recorder is out of room.
func (s *Server) outboxFull() bool {
	f, ok := s.recorder.(fullReporter)
	return ok && f.Full()
}

// admit refuses a request when the outbox is full and the policy is to
// reject.
func (s *Server) admit() error {
	if s.cfg.OutboxFullPolicy == OutboxReject && s.outboxFull() {
		e := apierr.New(apierr.CodeServiceUnavailable, "the gateway cannot record more requests until its event backlog is shipped; retry later")
		e.RetryAfter = 5 * time.Second
		return e
	}
	return nil
}

// fillBodies stores the request's and the response's bodies, capped and
// redacted.
func (s *Server) fillBodies(ev *event.Event, body []byte, sink *responseSink, err error) {
	if s.redactor.Limit() <= 0 {
		return
	}
	if s.outboxFull() {
		ev.BodiesDropped = true
		s.metrics.bodiesDropped.Inc()
		return
	}
	ev.RequestBytes = int64(len(body))
	ev.RequestBody, ev.RequestTruncated = s.redactor.Body(body)
	if err != nil && !sink.Started() {
		// The client gets an error envelope, written after the record.
		if e := upstreamToAPIError(err); e != nil {
			b, _ := json.Marshal(e.Envelope())
			ev.ResponseBytes = int64(len(b))
			ev.ResponseBody = string(b)
		}
		return
	}
	if c := sink.capture; c != nil && c.binary != "" {
		ev.ResponseBytes = c.total
		ev.ResponseBody = fmt.Sprintf("[%s, %d bytes]", c.binary, c.total)
	} else if c != nil {
		ev.ResponseBytes = c.total
		ev.ResponseBody, ev.ResponseTruncated = s.redactor.Body(c.buf)
		ev.ResponseTruncated = ev.ResponseTruncated || c.total > int64(len(c.buf))
	}
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
// A full disk is the exception: the error (wrapping diskguard.ErrFull) is
// returned, and the caller withholds the answer's end.
func (s *Server) record(ev *event.Event) error {
	if s.recorder == nil {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		s.log.Error("encode usage event", "request_id", ev.RequestID, "err", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.recorder.Append(ctx, b); err != nil {
		s.metrics.recordFailures.Inc()
		if errors.Is(err, diskguard.ErrFull) {
			return err // the disk guard has logged the full disk
		}
		s.log.Error("could not store a usage event; the request is served but its record is missing",
			"request_id", ev.RequestID, "err", err)
	}
	return nil
}
