// Package alert delivers operational alerts (breakers opening and
// closing, budgets crossing thresholds, limits refusing bursts, nodes
// lost) as signed webhook POSTs: to the system webhook and to the webhook
// of each org concerned, each alert once per target, rate-limited, retried
// with backoff.
package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Alert types.
const (
	TypeBreakerOpen     = "breaker_open"
	TypeBreakerClosed   = "breaker_closed"
	TypeBudgetThreshold = "budget_threshold"
	TypeQuotaExhausted  = "quota_exhausted"
	TypeNodeLost        = "node_lost"
)

// Alert is the JSON body of a webhook POST.
type Alert struct {
	// ID is the same for the same event whichever node reports it, so a
	// receiver can drop a repeat.
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Severity string         `json:"severity"` // info, warning or critical
	Time     time.Time      `json:"time"`
	Node     string         `json:"node"`
	OrgID    string         `json:"org_id,omitempty"`
	Message  string         `json:"message"`
	Details  map[string]any `json:"details,omitempty"`
}

// Target is a webhook.
type Target struct {
	URL    string
	Secret []byte // signs the body; empty sends unsigned
}

// Headers of a delivery.
const (
	HeaderSignature = "X-Tensorgate-Signature" // "sha256=" + hex HMAC of timestamp "." body
	HeaderTimestamp = "X-Tensorgate-Timestamp" // Unix seconds
	HeaderID        = "X-Tensorgate-Alert-Id"
)

// Sign returns the signature header value of a body sent at ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Config tunes a Sender.
type Config struct {
	Node string
	// System receives every alert; an empty URL sends none there.
	System Target
	Client *http.Client
	// PerMinute bounds the alerts sent to one target a minute (default
	// 30); the excess is dropped and counted.
	PerMinute int
	// Attempts per delivery (default 6), with exponential backoff from
	// Backoff (default 1s).
	Attempts int
	Backoff  time.Duration
	// Remember is how long an alert id is remembered to drop repeats
	// (default 24h).
	Remember time.Duration
	Logger   *slog.Logger
	Registry prometheus.Registerer
	Now      func() time.Time
}

// Sender delivers alerts. Each target has its own queue and worker, so
// a slow webhook holds up only itself.
type Sender struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	seen   map[string]time.Time // target URL + alert id -> when sent
	queues map[string]*queue
	sent   *prometheus.CounterVec
	// recent keeps the newest deliveries, for the console.
	recentMu sync.Mutex
	recent   []Delivery
}

// Delivery is an alert's fate at one target, as the console lists it.
type Delivery struct {
	Alert
	Target string `json:"target"`
	Result string `json:"result"` // sent, failed, dropped, repeat
}

// maxRecent bounds the deliveries kept for the console.
const maxRecent = 200

func (s *Sender) remember(a Alert, target, result string) {
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	s.recent = append(s.recent, Delivery{Alert: a, Target: target, Result: result})
	if len(s.recent) > maxRecent {
		s.recent = s.recent[len(s.recent)-maxRecent:]
	}
}

// Recent lists this node's newest deliveries, newest first.
func (s *Sender) Recent() []Delivery {
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	out := make([]Delivery, len(s.recent))
	for i, d := range s.recent {
		out[len(s.recent)-1-i] = d
	}
	return out
}

type queue struct {
	ch     chan delivery
	tokens float64
	last   time.Time
}

type delivery struct {
	target Target
	alert  Alert
}

// New returns a Sender; Close stops it.
func New(cfg Config) *Sender {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.PerMinute <= 0 {
		cfg.PerMinute = 30
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 6
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Remember <= 0 {
		cfg.Remember = 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{cfg: cfg, log: cfg.Logger.With("component", "alert"), ctx: ctx, cancel: cancel,
		seen: map[string]time.Time{}, queues: map[string]*queue{},
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tensorgate_alerts_total",
			Help: "Alert deliveries by type and result (sent, failed, dropped by the rate limit, repeat)."}, []string{"type", "result"})}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(s.sent)
	}
	return s
}

// Close stops the workers; queued alerts are dropped.
func (s *Sender) Close() {
	s.cancel()
	s.wg.Wait()
}

// Send queues a for the system webhook and each of targets, once per
// target per alert id.
func (s *Sender) Send(a Alert, targets ...Target) {
	if a.Time.IsZero() {
		a.Time = s.cfg.Now().UTC()
	}
	if a.Node == "" {
		a.Node = s.cfg.Node
	}
	all := targets
	if s.cfg.System.URL != "" {
		all = append([]Target{s.cfg.System}, targets...)
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.seen {
		if now.Sub(t) > s.cfg.Remember {
			delete(s.seen, k)
		}
	}
	for _, t := range all {
		if t.URL == "" {
			continue
		}
		if _, dup := s.seen[t.URL+"|"+a.ID]; dup {
			s.sent.WithLabelValues(a.Type, "repeat").Inc()
			continue
		}
		q := s.queueFor(t.URL)
		// A token bucket of PerMinute a minute per target.
		q.tokens = min(float64(s.cfg.PerMinute), q.tokens+now.Sub(q.last).Minutes()*float64(s.cfg.PerMinute))
		q.last = now
		if q.tokens < 1 {
			s.sent.WithLabelValues(a.Type, "dropped").Inc()
			s.log.Warn("alert dropped: too many for this webhook", "type", a.Type, "id", a.ID)
			s.remember(a, t.URL, "dropped")
			continue
		}
		select {
		case q.ch <- delivery{target: t, alert: a}:
			q.tokens--
			s.seen[t.URL+"|"+a.ID] = now
		default:
			s.sent.WithLabelValues(a.Type, "dropped").Inc()
		}
	}
}

// queueFor returns the target's queue, starting its worker; s.mu is held.
func (s *Sender) queueFor(url string) *queue {
	q := s.queues[url]
	if q == nil {
		q = &queue{ch: make(chan delivery, 256), tokens: float64(s.cfg.PerMinute), last: s.cfg.Now()}
		s.queues[url] = q
		s.wg.Add(1)
		go s.work(q)
	}
	return q
}

func (s *Sender) work(q *queue) {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case d := <-q.ch:
			result := "sent"
			if err := s.deliver(d); err != nil {
				result = "failed"
				s.log.Warn("alert not delivered", "type", d.alert.Type, "id", d.alert.ID, "err", err)
			}
			s.sent.WithLabelValues(d.alert.Type, result).Inc()
			s.remember(d.alert, d.target.URL, result)
		}
	}
}

// deliver posts one alert, retrying failures with capped exponential
// backoff and jitter.
func (s *Sender) deliver(d delivery) error {
	body, err := json.Marshal(d.alert)
	if err != nil {
		return err
	}
	wait := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err = s.post(d.target, d.alert.ID, body)
		if err == nil || attempt == s.cfg.Attempts {
			return err
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return s.ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, time.Minute)
	}
}

func (s *Sender) post(t Target, id string, body []byte) error {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(s.cfg.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tensorgate-alerts")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, ts)
	if len(t.Secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(t.Secret, ts, body))
	}
	res, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", res.Status)
	}
	return nil
}
