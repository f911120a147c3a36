package breaker

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

type recorder []Transition

func (r *recorder) on(tr Transition) { *r = append(*r, tr) }

func TestConsecutiveFailuresOpenThenProbesClose(t *testing.T) {
	var trs recorder
	b := New(Settings{ConsecutiveFailures: 3, Cooldown: 10 * time.Second, HalfOpenProbes: 2}, trs.on)
	now := t0
	for i := range 3 {
		if ok, _ := b.Allow(now); !ok {
			t.Fatalf("call %d refused while closed", i)
		}
		b.Failure(now, false, 0)
	}
	if b.State() != Open || len(trs) != 1 || trs[0].Reason != "consecutive_failures" || !trs[0].Until.Equal(now.Add(10*time.Second)) {
		t.Fatalf("state %v, transitions %+v", b.State(), trs)
	}
	// Open: nothing passes until the cooldown ends.
	if ok, _ := b.Allow(now.Add(9999 * time.Millisecond)); ok {
		t.Fatal("allowed while open")
	}
	// Half-open: two probes at once, no third.
	now = now.Add(10 * time.Second)
	ok1, p1 := b.Allow(now)
	ok2, p2 := b.Allow(now)
	ok3, _ := b.Allow(now)
	if !ok1 || !p1 || !ok2 || !p2 || ok3 || b.State() != HalfOpen {
		t.Fatalf("probes %v %v %v %v %v, state %v", ok1, p1, ok2, p2, ok3, b.State())
	}
	b.Success(now, true)
	if b.State() != HalfOpen {
		t.Fatal("closed after one of two probes")
	}
	b.Success(now, true)
	if b.State() != Closed || trs[len(trs)-1].Reason != "probes_passed" {
		t.Fatalf("state %v after both probes passed: %+v", b.State(), trs)
	}
}

func TestFailedProbeReopens(t *testing.T) {
	b := New(Settings{ConsecutiveFailures: 1, Cooldown: time.Second}, nil)
	b.Failure(t0, false, 0)
	now := t0.Add(time.Second)
	if ok, probe := b.Allow(now); !ok || !probe {
		t.Fatal("no probe after the cooldown")
	}
	b.Failure(now, true, 0)
	if b.State() != Open || !b.Until().Equal(now.Add(time.Second)) {
		t.Fatalf("after a failed probe: %v until %v", b.State(), b.Until())
	}
	// A probe whose client left frees its slot without a verdict.
	now = now.Add(time.Second)
	_, probe := b.Allow(now)
	b.Release(probe)
	if ok, _ := b.Allow(now); !ok {
		t.Fatal("probe slot not released")
	}
}

func TestErrorRateOverTheWindow(t *testing.T) {
	b := New(Settings{ConsecutiveFailures: 100, ErrorRatePercent: 50, MinRequests: 10, Window: 10 * time.Second}, nil)
	now := t0
	// 4 failures in 10 calls: under the rate.
	for i := range 10 {
		if i%5 < 2 {
			b.Failure(now, false, 0)
		} else {
			b.Success(now, false)
		}
	}
	if b.State() != Closed {
		t.Fatal("opened under the error rate")
	}
	// Once those calls leave the window, 5 failures out of 10 open it.
	now = now.Add(11 * time.Second)
	for i := range 10 {
		if i%2 == 1 {
			b.Failure(now, false, 0)
		} else {
			b.Success(now, false)
		}
	}
	if b.State() != Open {
		t.Fatal("did not open at a 50% error rate")
	}
}

func TestRetryAfterAndPeers(t *testing.T) {
	var trs recorder
	b := New(Settings{}, trs.on)
	b.Failure(t0, false, 42*time.Second)
	if b.State() != Open || !b.Until().Equal(t0.Add(42*time.Second)) || trs[0].Reason != "retry_after" {
		t.Fatalf("after a 429 with Retry-After: %v until %v", b.State(), b.Until())
	}
	// A peer closes it; a peer's open with a later time extends it; its
	// transitions are not reported as this node's.
	b.Peer(t0, false, time.Time{})
	if b.State() != Closed {
		t.Fatal("peer close ignored")
	}
	b.Peer(t0, true, t0.Add(5*time.Second))
	if ok, _ := b.Allow(t0.Add(4 * time.Second)); ok || len(trs) != 1 {
		t.Fatalf("peer open ignored, or reported: %+v", trs)
	}
	set := NewSet(nil)
	k := Key{Provider: "p", Model: "m"}
	set.Peer(k, t0, true, t0.Add(time.Minute))
	if ok, _ := set.Get(k, Settings{}).Allow(t0); ok {
		t.Fatal("a node that learned of an open breaker from a peer called the target")
	}
	if st := set.Statuses(); len(st) != 1 || st[0].State != "open" {
		t.Fatalf("statuses %+v", st)
	}
}
