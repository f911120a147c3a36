package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/auth"
	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/route"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// authenticate checks the key and, unless capability is empty (calls any
// key may make), its scopes. A 401 means the key is unknown, revoked or
// expired as of a state this node knows to be current: a node that has
// not caught up since it started, or that cannot confirm with the cluster
// that a key it does not know is unknown, answers 503 instead, which
// clients retry.
func (s *Server) authenticate(r *http.Request, state *fsm.State, capability string) (auth.Principal, error) {
	if s.fresh != nil && !s.fresh.Ready() {
		return auth.Principal{}, errNotCurrent("this node is starting and has not caught up with the cluster yet")
	}
	if s.fresh != nil && s.cfg.MaxStale > 0 {
		if age := s.fresh.LastContact(); age > s.cfg.MaxStale {
			return auth.Principal{}, errNotCurrent(fmt.Sprintf("this node has not heard from the cluster's leader for %s, longer than --max-stale %s, "+
				"so it cannot vouch that a key is still valid", age.Round(time.Second), s.cfg.MaxStale))
		}
	}
	p, err := auth.Authenticate(state, r.Header.Get("Authorization"), s.now())
	if err != nil && errors.Is(err, auth.ErrUnknownKey) && s.barrier != nil {
		// A key created through another node a moment ago may not have
		// reached this one yet: look again once it has caught up.
		if !s.catchUp(r.Context()) {
			s.metrics.catchUpFailures.Inc()
			return p, errNotCurrent("this node cannot confirm with the cluster whether this API key exists (an election, or it is cut off)")
		}
		p, err = auth.Authenticate(s.state.View(), r.Header.Get("Authorization"), s.now())
	}
	if err != nil {
		s.metrics.authFailures.Inc()
		if ok, held := s.authLog.allow(s.now()); ok {
			// Never the key itself: only where the call came from.
			s.log.Warn("refused a data-plane request with a bad key", "remote", r.RemoteAddr, "path", r.URL.Path,
				"err", err, "similar_lines_held_back", held)
		}
		return p, err
	}
	if capability == "" {
		return p, nil
	}
	if err := p.AllowPath(capability, r.URL.Path); err != nil {
		return p, err
	}
	return p, nil
}

// fillEvent completes a request's event from its outcome.
func (s *Server) fillEvent(ev *event.Event, state *fsm.State, sink *responseSink, res provider.Result, attempts []event.Attempt, err error, start time.Time) {
	ev.Provider, ev.UpstreamModel, ev.OwnKey = sink.provider, sink.model, sink.ownKey
	ev.Attempts = attempts
	if ev.Attempts == nil {
		ev.Attempts = []event.Attempt{}
	}
	ev.LatencyMS = s.now().Sub(start).Milliseconds()
	ev.TTFBMS = res.TTFB.Milliseconds()
	for _, a := range attempts {
		ev.UpstreamMS += a.Duration.Milliseconds()
	}
	ev.Status = http.StatusOK
	if err != nil {
		if e := upstreamToAPIError(err); e != nil {
			ev.Status, ev.ErrorCode = e.Status, e.Code
		} else {
			ev.Status, ev.ErrorCode = 499, "client_closed"
		}
		if sink.Started() {
			// The stream had begun: the client got a 200 and an error
			// event; record what it saw.
			ev.Status = sink.status
		}
		return
	}
	ev.Usage = res.Usage
	ev.CostMicros, ev.Currency = price(state, ev.UpstreamModel, ev.Model, res.Usage)
}

// call tries targets in the order of the route's strategy until one
// answers, failing over on errors another target may not have, never
// after the first byte reached the client, at most MaxAttempts upstream
// calls and none started after the failover window. A target whose
// breaker is open is skipped without a call (and noted in the chain).
func (s *Server) call(ctx context.Context, p auth.Principal, targets []route.Target, req *provider.Request, sink *responseSink, start time.Time) (provider.Result, []event.Attempt, error) {
	var (
		attempts []event.Attempt
		lastErr  error
		called   int
		reopens  time.Time // the earliest time a skipped target probes again
		// allocFull is set when a target was skipped because the org's
		// allocation on it was full.
		allocFull bool
	)
	for _, t := range targets {
		now := s.now()
		if called >= s.cfg.MaxAttempts || (called > 0 && now.Sub(start) > s.cfg.FailoverWindow) {
			break
		}
		br := s.breakerFor(p.Policy, t.Provider.Slug, t.Model)
		allowed, probe := br.Allow(now)
		if !allowed {
			attempts = append(attempts, event.Attempt{Provider: t.Provider.Slug, Model: t.Model, Result: provider.ClassBreakerOpen})
			s.metrics.attempts.WithLabelValues(t.Provider.Slug, provider.ClassBreakerOpen).Inc()
			if u := br.Until(); !u.IsZero() && (reopens.IsZero() || u.Before(reopens)) {
				reopens = u
			}
			continue
		}
		slot, full := s.allocationSlot(ctx, p, t.Provider.Slug)
		if full {
			br.Release(probe)
			attempts = append(attempts, event.Attempt{Provider: t.Provider.Slug, Model: t.Model, Result: resultAllocationFull})
			s.metrics.attempts.WithLabelValues(t.Provider.Slug, resultAllocationFull).Inc()
			allocFull = true
			continue
		}
		a := s.adapters[t.Provider.Format]
		ep, err := s.endpoint(p, t.Provider)
		if err != nil {
			slot.Settle(0, 0)
			br.Release(probe)
			attempts = append(attempts, event.Attempt{Provider: t.Provider.Slug, Model: t.Model, Result: provider.ClassAuth})
			lastErr = err
			continue
		}
		called++
		req.Model = t.Model
		sink.provider, sink.model = t.Provider.Slug, t.Model
		sink.ownKey = p.Policy != nil && len(p.Policy.OwnKeys[t.Provider.Slug]) > 0
		t0 := s.now()
		res, err := a.Do(ctx, ep, req, sink)
		slot.Settle(0, 0)
		at := event.Attempt{Provider: t.Provider.Slug, Model: t.Model, Result: "ok", Duration: s.now().Sub(t0)}
		if err == nil {
			judge(br, s.now(), probe, nil, nil)
			attempts = append(attempts, at)
			s.metrics.attempts.WithLabelValues(at.Provider, at.Result).Inc()
			if res.TTFB > 0 {
				s.metrics.ttfb.WithLabelValues(at.Provider).Observe(res.TTFB.Seconds())
				s.balancer.Observe(t, res.TTFB)
			}
			return res, attempts, nil
		}
		var ue *provider.UpstreamError
		if !errors.As(err, &ue) {
			// A write to the client failed: it has gone.
			ue = &provider.UpstreamError{Provider: t.Provider.Slug, Class: provider.ClassCanceled, Message: "client went away", Err: err}
		}
		if ctx.Err() != nil {
			ue.Class = provider.ClassCanceled
		}
		judge(br, s.now(), probe, err, ue)
		at.Result, at.Status, at.Error = ue.Class, ue.Status, ue.Message
		attempts = append(attempts, at)
		s.metrics.attempts.WithLabelValues(at.Provider, at.Result).Inc()
		lastErr = ue
		if sink.Started() || !ue.Retryable() {
			break
		}
	}
	if lastErr == nil && allocFull {
		e := apierr.Newf(apierr.CodeRateLimitExceeded, "this organization's allocation on every provider for %s is in use; retry shortly", req.ClientModel)
		e.RetryAfter = time.Second
		return provider.Result{}, attempts, e
	}
	if lastErr == nil && !reopens.IsZero() {
		// Every usable target is behind an open breaker.
		lastErr = &provider.UpstreamError{Provider: attempts[len(attempts)-1].Provider, Class: provider.ClassBreakerOpen,
			Message: "every target's circuit breaker is open", RetryAfter: max(time.Second, reopens.Sub(s.now()))}
	}
	return provider.Result{}, attempts, lastErr
}

// endpoint builds the upstream endpoint of a provider for this caller: the
// org's own key if it has one, else the provider's stored key, else the
// system key from the node's environment.
func (s *Server) endpoint(p auth.Principal, pv *fsm.Provider) (provider.Endpoint, error) {
	ep := provider.Endpoint{Provider: pv.Slug, BaseURL: strings.TrimRight(pv.BaseURL, "/"), APIPath: pv.APIPath}
	if ep.APIPath == "" {
		ep.APIPath = fsm.DefaultAPIPath(pv.Format)
	}
	var sealed []byte
	purpose := ""
	// The cache holds one key per provider and per org's own key on it;
	// a key removed from the state is dropped at the next call, a
	// rotated one replaced.
	provSlot, orgSlot := keySlot{provider: pv.Slug}, keySlot{provider: pv.Slug, org: p.Org.ID}
	slot := provSlot
	if p.Policy != nil && len(p.Policy.OwnKeys[pv.Slug]) > 0 {
		sealed, purpose, slot = p.Policy.OwnKeys[pv.Slug], secret.OrgKeyPurpose(p.Org.ID, pv.Slug), orgSlot
	} else {
		s.keys.drop(orgSlot)
		if len(pv.APIKeyCipher) > 0 {
			sealed, purpose = pv.APIKeyCipher, secret.ProviderPurpose(pv.Slug)
		}
	}
	if sealed == nil {
		s.keys.drop(provSlot)
		ep.APIKey = s.cfg.SystemKeys[pv.KeyEnv]
		return ep, nil
	}
	if v, ok := s.keys.get(slot, sealed); ok {
		ep.APIKey = v
		return ep, nil
	}
	pt, err := s.unsealer.Open(purpose, sealed)
	if err != nil {
		s.log.Error("cannot decrypt a provider key; check BETTER_AUTH_SECRET", "provider", pv.Slug)
		return ep, &provider.UpstreamError{Provider: pv.Slug, Class: provider.ClassAuth, Message: "the gateway cannot decrypt this provider's key", Err: err}
	}
	ep.APIKey = string(pt)
	s.keys.put(slot, sealed, ep.APIKey)
	return ep, nil
}

// finishWithError ends a failed request: an error response if nothing was
// sent yet, else one error event that closes the stream.
func (s *Server) finishWithError(w http.ResponseWriter, sink *responseSink, err error, rid string) error {
	e := upstreamToAPIError(err)
	if e == nil {
		// The client went away; there is no one to answer (499 in logs).
		if !sink.Started() {
			w.WriteHeader(499)
		}
		return nil
	}
	if !sink.Started() {
		return e
	}
	s.log.Warn("stream failed after it started", "request_id", rid, "provider", sink.provider, "err", err)
	_ = sink.Event(apierr.StreamEvent(e))
	sink.finish()
	return nil
}

// upstreamToAPIError maps the last upstream error to what the client sees;
// nil means the client is gone.
func upstreamToAPIError(err error) *apierr.Error {
	var ue *provider.UpstreamError
	if !errors.As(err, &ue) {
		var ae *apierr.Error
		if errors.As(err, &ae) {
			return ae
		}
		return apierr.New(apierr.CodeServerError, "internal error")
	}
	switch ue.Class {
	case provider.ClassCanceled:
		return nil
	case provider.ClassClientErr:
		// The upstream blamed the request: pass its verdict through.
		e := &apierr.Error{Status: ue.Status, Type: ue.Type, Code: ue.Code, Param: ue.Param, Message: ue.Message, Err: ue}
		if e.Status == 0 {
			e.Status = http.StatusBadRequest
		}
		if e.Type == "" {
			e.Type = "invalid_request_error"
		}
		if e.Code == "" {
			e.Code = apierr.CodeInvalidRequest
		}
		return e
	case provider.ClassTimeout:
		e := apierr.Newf(apierr.CodeUpstreamTimeout, "the upstream %s did not answer in time", ue.Provider)
		e.Err = ue
		return e
	}
	msg := fmt.Sprintf("every upstream for this model failed; last: %s (%s", ue.Provider, ue.Class)
	if ue.Status != 0 {
		msg += fmt.Sprintf(", HTTP %d", ue.Status)
	}
	msg += ")"
	if ue.Message != "" && ue.Class != provider.ClassAuth {
		msg += ": " + ue.Message
	}
	e := apierr.New(apierr.CodeUpstreamError, msg)
	e.RetryAfter, e.Err = ue.RetryAfter, ue
	return e
}

// observe records a finished request in the metrics.
func (s *Server) observe(capability, model, prov string, start time.Time, res provider.Result, err error) {
	status := "ok"
	if err != nil {
		if e := upstreamToAPIError(err); e != nil {
			status = e.Code
		} else {
			status = "canceled"
		}
	}
	s.metrics.requests.WithLabelValues(capability, model, prov, status).Inc()
	s.metrics.duration.WithLabelValues(capability, prov).Observe(s.now().Sub(start).Seconds())
	if err == nil {
		s.metrics.tokens.WithLabelValues(model, prov, "prompt").Add(float64(res.Usage.PromptTokens))
		s.metrics.tokens.WithLabelValues(model, prov, "completion").Add(float64(res.Usage.CompletionTokens))
		if res.Usage.Estimated {
			s.metrics.estimated.WithLabelValues(prov).Inc()
		}
	}
}
