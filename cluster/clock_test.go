package cluster

import (
	"testing"
	"time"
)

// TestClockOffsetEstimate: the offset is the leader's clock minus the
// middle of the call; slow answers are ignored; crossing the warning
// threshold is reported once each way.
func TestClockOffsetEstimate(t *testing.T) {
	var c clockOffset
	t0 := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		rtt, skew time.Duration // the leader's clock runs skew ahead
		crossed   bool
		want      time.Duration // 0: estimate unchanged
	}{
		{10 * time.Millisecond, 200 * time.Millisecond, false, 200 * time.Millisecond},
		{10 * time.Millisecond, -3 * time.Second, true, -3 * time.Second},  // behind by 3 s: warn
		{20 * time.Millisecond, -4 * time.Second, false, -4 * time.Second}, // still over: no second warning
		{time.Second, 0, false, -4 * time.Second},                          // too slow to tell: ignored
		{4 * time.Millisecond, 0, true, 0},                                 // back in step: said once
	} {
		leader := t0.Add(tc.rtt / 2).Add(tc.skew)
		crossed, _ := c.observe(t0, t0.Add(tc.rtt), leader)
		if crossed != tc.crossed {
			t.Fatalf("rtt %v skew %v: crossed %v, want %v", tc.rtt, tc.skew, crossed, tc.crossed)
		}
		if got := time.Duration(c.ns.Load()); got != tc.want {
			t.Fatalf("rtt %v skew %v: offset %v, want %v", tc.rtt, tc.skew, got, tc.want)
		}
		t0 = t0.Add(time.Minute)
	}
}
