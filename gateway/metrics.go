package gateway

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	ttfb         *prometheus.HistogramVec
	tokens       *prometheus.CounterVec
	attempts     *prometheus.CounterVec
	authFailures prometheus.Counter
	// catchUpFailures counts unknown keys answered 503 because the node
	// could not confirm with the cluster that they are unknown.
	catchUpFailures prometheus.Counter
	estimated       *prometheus.CounterVec
	recordFailures  prometheus.Counter
	bodiesDropped   prometheus.Counter
	// breakerTransitions counts this node's own breaker transitions.
	breakerTransitions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tensorgate_requests_total",
			Help: "Data-plane requests that passed authentication, by outcome.",
		}, []string{"capability", "model", "provider", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tensorgate_request_duration_seconds",
			Help:    "Data-plane request latency, from arrival to the last byte.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"capability", "provider"}),
		ttfb: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tensorgate_upstream_ttfb_seconds",
			Help:    "Time from sending an upstream request to its first byte (time to first token for streams).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"provider"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tensorgate_tokens_total",
			Help: "Tokens used, by model, provider and kind (prompt or completion).",
		}, []string{"model", "provider", "kind"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tensorgate_upstream_attempts_total",
			Help: "Upstream attempts by provider and result class (ok or the error class).",
		}, []string{"provider", "result"}),
		estimated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tensorgate_usage_estimated_total",
			Help: "Requests whose upstream reported no usage, so the gateway estimated it.",
		}, []string{"provider"}),
		recordFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tensorgate_event_record_failures_total",
			Help: "Usage events that could not be stored in the outbox.",
		}),
		bodiesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tensorgate_event_bodies_dropped_total",
			Help: "Usage events stored without their bodies because the outbox was full.",
		}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tensorgate_breaker_transitions_total",
			Help: "Circuit breaker transitions this node observed, by provider and the state entered.",
		}, []string{"provider", "to"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tensorgate_auth_failures_total",
			Help: "Data-plane requests refused for a missing, unknown, disabled, revoked or expired key.",
		}),
		catchUpFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tensorgate_auth_undecided_total",
			Help: "Data-plane requests with a key this node did not know and could not confirm unknown with the cluster (answered 503, not 401).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.ttfb, m.tokens, m.attempts, m.authFailures, m.catchUpFailures, m.estimated, m.recordFailures, m.bodiesDropped, m.breakerTransitions)
	}
	return m
}
