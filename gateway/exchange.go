package gateway

import (
	"net/http"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/auth"
	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/quota"
	"github.com/tensorgate/tensorgate/storage/event"
)

// exchange is one authenticated data-plane request on its way: what its
// audit event, limits and answer need once it ends, whatever the outcome.
type exchange struct {
	s          *Server
	w          http.ResponseWriter
	rid        string
	capability string
	start      time.Time
	state      *fsm.State
	ev         *event.Event
	sink       *responseSink
	res        provider.Result
	attempts   []event.Attempt
	// body is the request body as the audit record keeps it.
	body   []byte
	ticket quota.Ticket
	// cleanup runs last (a spooled upload is removed).
	cleanup func()
}

// begin authenticates a request (the scope is checked by the caller,
// once the request is being recorded) and starts its exchange. From here
// on every outcome is recorded, before the response's last byte (or its
// error) reaches the client.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, rid, capability string) (*exchange, auth.Principal, error) {
	if err := s.roomToRecord(); err != nil {
		return nil, auth.Principal{}, err
	}
	start := s.now()
	state := s.state.View()
	p, err := s.authenticate(r, state, "")
	if err != nil {
		return nil, p, err
	}
	if state.Key(p.Key.ID) == nil {
		state = s.state.View() // the key came with a catch-up
	}
	ev := &event.Event{RequestID: rid, Time: start.UTC().Truncate(time.Microsecond), Node: s.cfg.NodeID, OrgID: p.Org.ID,
		KeyID: p.Key.ID, Capability: capability}
	return &exchange{s: s, w: w, rid: rid, capability: capability, start: start, state: state, ev: ev,
		sink: newSink(w, s.cfg.AuditBodyBytes)}, p, nil
}

// end completes the event, settles the limits, records the event durably
// and only then lets the answer's end (or the error) go out.
func (x *exchange) end(err error) error {
	s, ev := x.s, x.ev
	s.fillEvent(ev, x.state, x.sink, x.res, x.attempts, err, x.start)
	s.fillBodies(ev, x.body, x.sink, err)
	for _, sp := range x.ticket.Settle(ev.Usage.PromptTokens+ev.Usage.CompletionTokens, ev.CostMicros) {
		ev.Spends = append(ev.Spends, event.Spend{Key: sp.Key, Lease: sp.Lease, Units: sp.Units})
	}
	s.observe(x.capability, ev.Model, ev.Provider, x.start, x.res, err)
	recErr := s.record(ev)
	if x.cleanup != nil {
		defer x.cleanup()
	}
	if recErr != nil {
		return x.withhold()
	}
	if err == nil {
		x.sink.finish()
		return nil
	}
	return s.finishWithError(x.w, x.sink, err, x.rid)
}

// withhold ends a request whose record could not be stored (the disk
// filled while it was under way) without completing its answer, so no
// client holds an answer the node has no record of: a 503 when nothing
// was sent yet, an error event in place of a stream's end, and for a
// body already under way a cut connection, its last byte never sent.
func (x *exchange) withhold() error {
	sink := x.sink
	sink.pending = sink.pending[:0]
	if !sink.Started() {
		return storageFull()
	}
	if x.w.Header().Get("Content-Type") == "text/event-stream" {
		_ = sink.Event(apierr.StreamEvent(storageFull()))
		_ = sink.Flush()
		return nil
	}
	panic(http.ErrAbortHandler)
}
