package cluster

import (
	"sync/atomic"
	"time"
)

// Clock offset. Admin writes carry a deadline the leader checks against
// its own clock (see Apply), so a node whose clock runs behind the
// leader's by more than the deadline sees every write it forwards
// refused. Nothing else depends on clocks agreeing, but an operator must
// hear of it before that: followers estimate the leader's clock minus
// their own from the RPC answers that carry it (read index, status), the
// way NTP does, and export and log it.

const (
	// skewWarn is the offset past which a node logs a warning.
	skewWarn = time.Second
	// skewRTT: an answer slower than this says too little about clocks.
	skewRTT = 500 * time.Millisecond
)

// clockOffset holds the last estimate of the leader's clock minus this
// node's, in nanoseconds; 0 on the leader and before any estimate.
type clockOffset struct {
	ns     atomic.Int64
	warned atomic.Bool
}

// observe records one estimate from an answer the leader stamped with
// its clock (leader), for a call sent at sent and answered at got (both
// this node's clock). It reports whether the offset just crossed skewWarn
// either way, and the offset.
func (c *clockOffset) observe(sent, got, leader time.Time) (crossed bool, off time.Duration) {
	rtt := got.Sub(sent)
	if leader.IsZero() || rtt < 0 || rtt > skewRTT {
		return false, 0
	}
	off = leader.Sub(sent.Add(rtt / 2))
	c.ns.Store(int64(off))
	over := off > skewWarn || off < -skewWarn
	return c.warned.Swap(over) != over, off
}

// seconds is the current estimate, for the gauge.
func (c *clockOffset) seconds() float64 { return time.Duration(c.ns.Load()).Seconds() }

// noteClock records the leader's clock from an RPC answer and logs when
// the offset crosses the warning threshold.
func (n *Node) noteClock(sent, got, leader time.Time) {
	crossed, off := n.clock.observe(sent, got, leader)
	if !crossed {
		return
	}
	if off > skewWarn || off < -skewWarn {
		n.log.Warn("this node's clock differs from the leader's; admin writes it forwards are refused once the difference exceeds their deadline: run NTP",
			"offset", off.Round(time.Millisecond))
		return
	}
	n.log.Info("this node's clock agrees with the leader's again", "offset", off.Round(time.Millisecond))
}
