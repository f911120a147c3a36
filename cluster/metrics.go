package cluster

import (
	"strconv"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg           prometheus.Registerer
	commit        prometheus.Histogram
	leaderChanges prometheus.Counter
	collectors    []prometheus.Collector
}

func newMetrics(n *Node, reg prometheus.Registerer) *metrics {
	m := &metrics{
		reg: reg,
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tensorgate_raft_commit_seconds",
			Help:    "Time from proposing a command to its commit and apply on this node.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tensorgate_raft_leader_changes_total",
			Help: "Leadership changes observed by this node.",
		}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.collectors = []prometheus.Collector{
		m.commit, m.leaderChanges,
		gauge("tensorgate_raft_state", "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.",
			func() float64 { return float64(n.raft.State()) }),
		gauge("tensorgate_raft_is_leader", "1 when this node is the raft leader.", func() float64 {
			if n.raft.State() == raft.Leader {
				return 1
			}
			return 0
		}),
		gauge("tensorgate_gossip_members", "Live gossip members this node sees, itself included (1 without gossip).", func() float64 {
			if n.disc == nil {
				return 1
			}
			return float64(n.disc.ml.NumMembers())
		}),
		gauge("tensorgate_raft_applied_index", "Last log index applied to the fsm on this node.",
			func() float64 { return float64(n.raft.AppliedIndex()) }),
		gauge("tensorgate_raft_last_index", "Last log index stored on this node.",
			func() float64 { return float64(n.raft.LastIndex()) }),
		gauge("tensorgate_raft_commit_index", "Last log index known committed.",
			func() float64 { return float64(parseUint(n.raft.Stats()["commit_index"])) }),
		gauge("tensorgate_raft_term", "Current raft term.",
			func() float64 { return float64(parseUint(n.raft.Stats()["term"])) }),
		gauge("tensorgate_clock_offset_seconds", "The leader's wall clock minus this node's, estimated from the last read barrier or status answer of the leader (0 on the leader). Admin writes forwarded from a node more than 5 s behind are refused.",
			func() float64 {
				if n.raft.State() == raft.Leader {
					return 0
				}
				return n.clock.seconds()
			}),
	}
	if reg != nil {
		for _, c := range m.collectors {
			reg.MustRegister(c)
		}
	}
	return m
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

func parseUint(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}
