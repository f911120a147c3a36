package provider

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTP is the upstream HTTP client shared by adapters, with first-byte and
// idle timers instead of a whole-request deadline, so a long stream that
// keeps flowing is never cut while a silent one is.
type HTTP struct {
	Client *http.Client
	// FirstByte bounds the wait for a stream's response headers.
	FirstByte time.Duration
	// Response bounds the wait for a non-streaming answer's headers, which
	// only arrive once the whole answer is generated.
	Response time.Duration
	// Idle bounds the gap between two reads of a response body.
	Idle time.Duration
}

// NewTransport returns a transport tuned for many concurrent calls to few
// upstream hosts.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2048,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Bodies pass through as the upstream sends them; transparent gzip
		// would cost CPU on every call and break streaming flushes.
		DisableCompression: true,
	}
}

// Response is an upstream answer whose body enforces the idle timer.
type Response struct {
	*http.Response
	TTFB time.Duration
	stop func()
}

// Close closes the body and stops the timers.
func (r *Response) Close() {
	_ = r.Body.Close()
	r.stop()
}

// Send performs req under ctx with the timers armed. The caller must Close
// the response. Errors are *UpstreamError.
func (h *HTTP) Send(ctx context.Context, provider string, req *http.Request, stream bool) (*Response, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	wait := h.Response
	if stream {
		wait = h.FirstByte
	}
	t := newIdleTimer(wait, cancel, ErrFirstByteTimeout)
	start := time.Now()
	res, err := h.Client.Do(req.WithContext(ctx))
	if err != nil {
		t.stop()
		err = classifyTransportErr(provider, ctx, err) // before cancel sets a cause
		cancel(nil)
		return nil, err
	}
	ttfb := time.Since(start)
	t.reset(h.Idle, ErrIdleTimeout)
	res.Body = &idleBody{rc: res.Body, t: t, ctx: ctx, provider: provider}
	return &Response{Response: res, TTFB: ttfb, stop: func() { t.stop(); cancel(nil) }}, nil
}

// classifyTransportErr tells a timeout from a client cancellation from a
// connection failure.
func classifyTransportErr(provider string, ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, ErrFirstByteTimeout), errors.Is(cause, ErrIdleTimeout):
		return &UpstreamError{Provider: provider, Class: ClassTimeout, Message: cause.Error(), Err: err}
	case errors.Is(cause, context.Canceled) || errors.Is(err, context.Canceled):
		return &UpstreamError{Provider: provider, Class: ClassCanceled, Message: "client went away", Err: err}
	case errors.Is(cause, context.DeadlineExceeded):
		return &UpstreamError{Provider: provider, Class: ClassTimeout, Message: "request deadline exceeded", Err: err}
	}
	return &UpstreamError{Provider: provider, Class: ClassConnect, Message: "could not reach the upstream", Err: err}
}

// idleTimer cancels a context with a cause when it fires.
type idleTimer struct {
	mu     sync.Mutex
	timer  *time.Timer
	d      time.Duration
	cancel context.CancelCauseFunc
	cause  error
}

func newIdleTimer(d time.Duration, cancel context.CancelCauseFunc, cause error) *idleTimer {
	t := &idleTimer{d: d, cancel: cancel, cause: cause}
	if d > 0 {
		t.timer = time.AfterFunc(d, t.fire)
	}
	return t
}

func (t *idleTimer) fire() {
	t.mu.Lock()
	cause := t.cause
	t.mu.Unlock()
	t.cancel(cause)
}

// reset rearms the timer with a new duration and cause.
func (t *idleTimer) reset(d time.Duration, cause error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.d, t.cause = d, cause
	if t.timer != nil {
		t.timer.Stop()
	}
	if d > 0 {
		if t.timer == nil {
			t.timer = time.AfterFunc(d, t.fire)
		} else {
			t.timer.Reset(d)
		}
	}
}

// touch pushes the deadline out after progress.
func (t *idleTimer) touch() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil && t.d > 0 {
		t.timer.Reset(t.d)
	}
}

func (t *idleTimer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
}

// idleBody resets the idle timer on every successful read and turns a
// timer-caused failure into a timeout error.
type idleBody struct {
	rc       io.ReadCloser
	t        *idleTimer
	ctx      context.Context
	provider string
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.t.touch()
	}
	if err != nil && err != io.EOF {
		err = classifyTransportErr(b.provider, b.ctx, err)
		if ue, ok := err.(*UpstreamError); ok && ue.Class == ClassConnect {
			ue.Class, ue.Message = ClassBroken, "the upstream's answer broke off"
		}
	}
	return n, err
}

func (b *idleBody) Close() error { return b.rc.Close() }
