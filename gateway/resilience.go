package gateway

import (
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/breaker"
	"github.com/tensorgate/tensorgate/gateway/provider"
)

// Notifier shares breaker transitions with the other nodes (the cluster's
// notices).
type Notifier interface {
	Notify(topic string, payload []byte)
	Subscribe(topic string, h func(from string, payload []byte))
}

// BreakerAlerter hears this node's own breaker transitions (webhooks).
type BreakerAlerter interface {
	BreakerChanged(k breaker.Key, tr breaker.Transition)
}

// breakerTopic is the notice topic of breaker transitions.
const breakerTopic = "breaker"

// breakerNotice is a transition as peers receive it.
type breakerNotice struct {
	breaker.Key
	Open  bool      `json:"open"`
	Until time.Time `json:"until,omitzero"`
}

// startBreakers makes the node's breakers and wires them to its peers,
// metrics and alerts.
func (s *Server) startBreakers(d Deps) {
	s.breakers = breaker.NewSet(func(k breaker.Key, tr breaker.Transition) {
		s.metrics.breakerTransitions.WithLabelValues(k.Provider, tr.To.String()).Inc()
		s.log.Warn("circuit breaker changed", "provider", k.Provider, "model", k.Model, "org", k.Org,
			"from", tr.From.String(), "to", tr.To.String(), "reason", tr.Reason, "until", tr.Until)
		// Half-open is this node's own probing; peers hear of the open
		// and of the close.
		if d.Notifier != nil && tr.To != breaker.HalfOpen {
			b, _ := json.Marshal(breakerNotice{Key: k, Open: tr.To == breaker.Open, Until: tr.Until})
			d.Notifier.Notify(breakerTopic, b)
		}
		if d.Alerter != nil {
			d.Alerter.BreakerChanged(k, tr)
		}
	})
	if d.Notifier != nil {
		d.Notifier.Subscribe(breakerTopic, func(from string, payload []byte) {
			var n breakerNotice
			if err := json.Unmarshal(payload, &n); err != nil || n.Provider == "" {
				return
			}
			s.breakers.Peer(n.Key, s.now(), n.Open, n.Until)
		})
	}
}

// Breakers lists the node's circuit breakers.
func (s *Server) Breakers() []breaker.Status { return s.breakers.Statuses() }

// breakerFor returns the breaker of a target for a caller: the org's own
// when its policy overrides the settings.
func (s *Server) breakerFor(pol *fsm.Policy, provider, model string) *breaker.Breaker {
	k := breaker.Key{Provider: provider, Model: model}
	var set breaker.Settings
	if pol != nil && pol.Breaker != (fsm.Breaker{}) {
		b := pol.Breaker
		k.Org = pol.OrgID
		set = breaker.Settings{ConsecutiveFailures: b.ConsecutiveFailures, ErrorRatePercent: b.ErrorRatePercent,
			Window: time.Duration(b.WindowSeconds) * time.Second, Cooldown: time.Duration(b.CooldownSeconds) * time.Second,
			HalfOpenProbes: b.HalfOpenProbes}
	}
	return s.breakers.Get(k, set)
}

// judge tells a target's breaker how its call went. Only failures that
// are the target's fault count; the client's own errors and departures
// free a probe slot without a verdict.
func judge(br *breaker.Breaker, now time.Time, probe bool, err error, ue *provider.UpstreamError) {
	switch {
	case err == nil:
		br.Success(now, probe)
	case ue == nil || ue.Class == provider.ClassClientErr || ue.Class == provider.ClassCanceled:
		br.Release(probe)
	default:
		var wait time.Duration
		if ue.Class == provider.ClassRateLimit || ue.Status == 503 {
			wait = ue.RetryAfter // the upstream asked for a pause: honor it
		}
		br.Failure(now, probe, wait)
	}
}

// breakerStates exports every breaker's state as a gauge.
type breakerStates struct{ s *Server }

var descBreaker = prometheus.NewDesc("tensorgate_breaker_state",
	"Circuit breaker state per upstream target on this node: 0 closed, 1 open, 2 half-open.",
	[]string{"provider", "model", "org"}, nil)

func (c breakerStates) Describe(ch chan<- *prometheus.Desc) { ch <- descBreaker }

func (c breakerStates) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.s.breakers.Statuses() {
		v := map[string]float64{"closed": 0, "open": 1, "half_open": 2}[st.State]
		ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.GaugeValue, v, st.Provider, st.Model, st.Org)
	}
}
