package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/breaker"
	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/provider/anthropic"
	"github.com/tensorgate/tensorgate/gateway/provider/dashscope"
	"github.com/tensorgate/tensorgate/gateway/provider/openai"
	"github.com/tensorgate/tensorgate/gateway/route"
	"github.com/tensorgate/tensorgate/storage/event"
)

// Viewer reads the node's current replicated state.
type Viewer interface {
	View() *fsm.State
}

// Unsealer opens provider keys sealed at rest.
type Unsealer interface {
	Open(purpose string, sealed []byte) ([]byte, error)
}

// Config tunes the data plane.
type Config struct {
	// MaxBodyBytes bounds a JSON request body (413 beyond it);
	// MaxUploadBytes a multipart upload (image edits, transcriptions),
	// spooled to UploadDir (default: the system's temporary directory).
	MaxBodyBytes   int64
	MaxUploadBytes int64
	UploadDir      string
	// CapabilityMaxBytes overrides those limits for one capability's
	// requests (a name of fsm.Capabilities).
	CapabilityMaxBytes map[string]int64
	// MaxAttempts bounds the upstream targets tried for one request.
	MaxAttempts int
	// FirstByteTimeout bounds the wait for a stream's first byte;
	// ResponseTimeout for a non-streaming answer; IdleTimeout the gap
	// between two chunks of an answer.
	FirstByteTimeout time.Duration
	ResponseTimeout  time.Duration
	IdleTimeout      time.Duration
	// SystemKeys are provider keys from the node's environment by variable
	// name (DASHSCOPE_API_KEY, ...).
	SystemKeys map[string]string
	// NodeID is written into every usage event.
	NodeID string
	// AuditBodyBytes caps each of a request's stored bodies (0 stores
	// none); RedactFields adds JSON field names whose values are never
	// stored, to event.DefaultRedactFields.
	AuditBodyBytes int
	RedactFields   []string
	// OutboxFullPolicy is what the node does once its outbox is full:
	// OutboxDropBodies (default) or OutboxReject.
	OutboxFullPolicy string
	// FailoverWindow is how long after a request arrived another target
	// may still be tried; no new attempt starts after it.
	FailoverWindow time.Duration
	// ImageDir, when set, keeps the images of answers that return URLs:
	// the client gets a link to this gateway signed with ImageURLKey,
	// valid for ImageURLTTL, served by any node. PublicURL is the scheme
	// and host those links use (default: the request's).
	// ImageURLOldKeys are keys links were signed with before: a link
	// signed with one of them is still accepted until it expires, and
	// none is signed with them again.
	ImageDir        string
	ImageURLKey     []byte
	ImageURLOldKeys [][]byte
	ImageURLTTL     time.Duration
	PublicURL       string
	// MaxStale bounds how long a node cut off from the cluster's leader
	// keeps serving the keys it knows: past it every call is answered
	// 503 (retryable, on another node), so a key revoked elsewhere stops
	// working here within MaxStale at most. 0 serves on for as long as
	// the partition lasts.
	MaxStale time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:     20 << 20,
		MaxUploadBytes:   25 << 20,
		MaxAttempts:      3,
		FirstByteTimeout: 60 * time.Second,
		ResponseTimeout:  10 * time.Minute,
		IdleTimeout:      60 * time.Second,
		AuditBodyBytes:   event.DefaultBodyLimit,
		OutboxFullPolicy: OutboxDropBodies,
		FailoverWindow:   2 * time.Minute,
		ImageURLTTL:      time.Hour,
		MaxStale:         5 * time.Minute,
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if c.MaxBodyBytes <= 0 || c.MaxUploadBytes <= 0 {
		return errors.New("gateway: max body and upload bytes must be positive")
	}
	for capability, n := range c.CapabilityMaxBytes {
		if !slices.Contains(fsm.Capabilities, capability) || n <= 0 {
			return fmt.Errorf("gateway: size limit %s=%d: the capability must be one of %v and the limit positive", capability, n, fsm.Capabilities)
		}
	}
	if c.MaxAttempts < 1 {
		return errors.New("gateway: max attempts must be at least 1")
	}
	if c.AuditBodyBytes < 0 {
		return errors.New("gateway: the audit body cap cannot be negative")
	}
	switch c.OutboxFullPolicy {
	case "", OutboxDropBodies, OutboxReject:
	default:
		return fmt.Errorf("gateway: outbox full policy %q is not %s or %s", c.OutboxFullPolicy, OutboxDropBodies, OutboxReject)
	}
	if c.ImageDir != "" && (len(c.ImageURLKey) < 16 || c.ImageURLTTL <= 0) {
		return errors.New("gateway: stored images need a signing key of at least 16 bytes and a positive link life")
	}
	if c.FirstByteTimeout <= 0 || c.ResponseTimeout <= 0 || c.IdleTimeout <= 0 || c.FailoverWindow <= 0 {
		return errors.New("gateway: timeouts must be positive")
	}
	return nil
}

// Deps are the data plane's collaborators.
type Deps struct {
	State    Viewer
	Unsealer Unsealer
	// Recorder stores usage events; nil records none.
	Recorder Recorder
	// Limiter enforces key and org limits; nil enforces none.
	Limiter Limiter
	// Adapters by provider format; nil builds the standard ones.
	Adapters map[string]provider.Adapter
	// Transport for upstream calls; nil builds a tuned one.
	Transport http.RoundTripper
	// Notifier shares breaker transitions with peers; nil keeps them on
	// this node.
	Notifier Notifier
	// Alerter hears breaker transitions; nil sends no alerts.
	Alerter BreakerAlerter
	// Peers finds the node holding a stored image; nil serves only this
	// node's.
	Peers Peers
	// Barrier lets a node that does not know a key catch up with the
	// leader before refusing it; nil refuses at once.
	Barrier Barrier
	// Freshness, when set, holds back every call (503) until the node
	// has caught up with the cluster since it started.
	Freshness Freshness
	// Space says when the node's disk is below its reserve: requests
	// that would be recorded are then refused up front; nil never is.
	Space    Space
	Logger   *slog.Logger
	Registry prometheus.Registerer
	Now      func() time.Time
}

// Server is the /v1 data plane.
type Server struct {
	cfg      Config
	state    Viewer
	unsealer Unsealer
	recorder Recorder
	limiter  Limiter
	adapters map[string]provider.Adapter
	log      *slog.Logger
	now      func() time.Time
	metrics  *metrics
	redactor *event.Redactor
	authLog  logLimiter
	keys     keyCache // unsealed provider keys
	balancer *route.Balancer
	breakers *breaker.Set
	peers    Peers
	fetcher  *http.Client // downloads images, fetches them from peers
	barrier  Barrier
	fresh    Freshness
	catchUps catchUps
	space    Space
	// tracer, set by tests, hears each step of every request.
	tracer atomic.Pointer[stepTracer]
}

// New returns the data plane.
func New(cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.State == nil || d.Unsealer == nil {
		return nil, errors.New("gateway: state and unsealer are required")
	}
	s := &Server{cfg: cfg, state: d.State, unsealer: d.Unsealer, recorder: d.Recorder, limiter: d.Limiter, adapters: d.Adapters, log: d.Logger, now: d.Now,
		redactor: event.NewRedactor(cfg.AuditBodyBytes, cfg.RedactFields)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "gateway")
	if s.now == nil {
		s.now = time.Now
	}
	tr := d.Transport
	if tr == nil {
		tr = provider.NewTransport()
	}
	s.fetcher, s.peers, s.barrier, s.fresh, s.space = &http.Client{Transport: tr}, d.Peers, d.Barrier, d.Freshness, d.Space
	if s.adapters == nil {
		h := &provider.HTTP{Client: &http.Client{Transport: tr}, FirstByte: cfg.FirstByteTimeout, Response: cfg.ResponseTimeout, Idle: cfg.IdleTimeout}
		s.adapters = map[string]provider.Adapter{
			fsm.FormatOpenAI:    &openai.Adapter{HTTP: h},
			fsm.FormatAnthropic: &anthropic.Adapter{HTTP: h},
			fsm.FormatDashScope: dashscope.New(h),
		}
	}
	s.metrics = newMetrics(d.Registry)
	s.balancer = route.NewBalancer()
	s.startBreakers(d)
	if d.Registry != nil {
		d.Registry.MustRegister(breakerStates{s})
	}
	return s, nil
}

// Register mounts the data plane on r under /v1.
func (s *Server) Register(r chi.Router) {
	r.Route("/v1", func(r chi.Router) {
		r.Get("/models", s.handle(s.models))
		for _, e := range endpoints() {
			r.Post(strings.TrimPrefix(e.path, "/v1"), s.handle(s.serve(e)))
		}
		r.Get("/files/images/{node}/{file}", s.serveImage)
		r.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request, rid string) error {
			return apierr.Newf(apierr.CodeNotFound, "unknown endpoint %s %s", r.Method, r.URL.Path)
		}))
		r.MethodNotAllowed(s.handle(func(w http.ResponseWriter, r *http.Request, rid string) error {
			return apierr.Newf(apierr.CodeMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path)
		}))
	})
}

// Handler returns the data plane as a standalone handler.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	s.Register(r)
	return r
}

// handlerFunc is a data-plane handler that returns its error for one place
// to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request, requestID string) error

// handle gives every request its id, recovers panics and renders errors.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rid := newRequestID()
		w.Header().Set("X-Request-Id", rid)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in data plane", "request_id", rid, "path", r.URL.Path, "panic", v)
				apierr.Write(w, apierr.From(errors.New("panic"), rid))
			}
		}()
		if err := h(w, r, rid); err != nil {
			e := apierr.From(err, rid)
			// A full disk, or a node not yet caught up or cut off, refuses
			// every request it cannot decide; the disk guard and the
			// cluster say so once, not once per request.
			if e.Status >= 500 && e.Code != apierr.CodeStorageFull && e.Code != apierr.CodeServiceUnavailable {
				s.log.Warn("request failed", "request_id", rid, "path", r.URL.Path, "status", e.Status, "err", err)
			}
			apierr.Write(w, e)
		}
	}
}

// maxBytes is the body limit of a capability's requests.
func (c *Config) maxBytes(capability string, multipart bool) int64 {
	if n := c.CapabilityMaxBytes[capability]; n > 0 {
		return n
	}
	if multipart {
		return c.MaxUploadBytes
	}
	return c.MaxBodyBytes
}
