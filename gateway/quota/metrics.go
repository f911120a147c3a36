package quota

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
)

// Viewer reads the replicated state, for the cluster-wide usage of every
// limit in the metrics.
type Viewer interface {
	View() *fsm.State
}

type metrics struct {
	refused     [len(scopes)][len(kinds)]prometheus.Counter
	refusedVec  *prometheus.CounterVec
	unavailable prometheus.Counter
	failOpen    prometheus.Counter
	waited      prometheus.Counter
	syncs       *prometheus.CounterVec
	syncSeconds prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		refusedVec: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tensorgate_quota_refused_total",
			Help: "Requests this node refused because a limit was reached, by the limit's scope and kind."}, []string{"scope", "kind"}),
		unavailable: prometheus.NewCounter(prometheus.CounterOpts{Name: "tensorgate_quota_unavailable_total",
			Help: "Requests refused because this node could not reach the quorum and held no capacity (fail_closed)."}),
		failOpen: prometheus.NewCounter(prometheus.CounterOpts{Name: "tensorgate_quota_fail_open_total",
			Help: "Requests admitted without capacity in hand during a partition, under a fail_open policy."}),
		waited: prometheus.NewCounter(prometheus.CounterOpts{Name: "tensorgate_quota_waits_total",
			Help: "Times a request found its local balance empty while the cluster had room, and waited for a grant."}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tensorgate_quota_syncs_total",
			Help: "Quota sync commands this node sent through raft, by result (ok or failed)."}, []string{"result"}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tensorgate_quota_sync_seconds",
			Help: "Time to commit one quota sync.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	for s := range scopes {
		for k := range kinds {
			m.refused[s][k] = m.refusedVec.WithLabelValues(scopes[s], kinds[k])
		}
	}
	return m
}

var (
	descLimit = prometheus.NewDesc("tensorgate_quota_limit", "A configured limit, cluster-wide: requests or tokens per minute, concurrent requests, or budget in micro-units.",
		[]string{"scope", "id", "kind"}, nil)
	descUsed = prometheus.NewDesc("tensorgate_quota_used", "What counts against a limit now, cluster-wide: the sliding minute, the budget period, or slots in use.",
		[]string{"scope", "id", "kind"}, nil)
	descLeased = prometheus.NewDesc("tensorgate_quota_leased", "Units of a limit that nodes hold in leases.",
		[]string{"scope", "id", "kind"}, nil)
	descAvailable = prometheus.NewDesc("tensorgate_quota_available", "Units of a limit the cluster may still grant.",
		[]string{"scope", "id", "kind"}, nil)
)

// Describe implements prometheus.Collector.
func (m *Manager) Describe(ch chan<- *prometheus.Desc) {
	m.metrics.refusedVec.Describe(ch)
	m.metrics.syncs.Describe(ch)
	for _, c := range []prometheus.Collector{m.metrics.unavailable, m.metrics.failOpen, m.metrics.waited, m.metrics.syncSeconds} {
		c.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{descLimit, descUsed, descLeased, descAvailable} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: this node's counters, and
// every configured limit's cluster-wide state from the replicated view.
func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	m.metrics.refusedVec.Collect(ch)
	m.metrics.syncs.Collect(ch)
	for _, c := range []prometheus.Collector{m.metrics.unavailable, m.metrics.failOpen, m.metrics.waited, m.metrics.syncSeconds} {
		c.Collect(ch)
	}
	if m.cfg.State == nil {
		return
	}
	for _, st := range m.cfg.State.View().QuotaStatuses(m.cfg.Now(), nil) {
		for d, v := range map[*prometheus.Desc]int64{descLimit: st.Limit, descUsed: st.Used, descLeased: st.Leased, descAvailable: st.Available} {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), st.Scope, st.ID, st.Kind)
		}
	}
}
