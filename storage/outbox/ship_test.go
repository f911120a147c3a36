package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// flakySink records what it ships and fails while down is set.
type flakySink struct {
	mu    sync.Mutex
	down  bool
	calls int
	got   []string
	seqs  []uint64
}

func (s *flakySink) Name() string { return "test" }

func (s *flakySink) Ship(ctx context.Context, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.down {
		return errors.New("sink down")
	}
	for _, r := range recs {
		s.got = append(s.got, string(r.Data))
		s.seqs = append(s.seqs, r.Seq)
	}
	return nil
}

func (s *flakySink) setDown(v bool) {
	s.mu.Lock()
	s.down = v
	s.mu.Unlock()
}

func (s *flakySink) shipped() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestShipperRetriesInOrderAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(dir, Options{MaxBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	sink := &flakySink{down: true}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = o.Ship(ctx, sink, ShipOptions{Batch: 7, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	}()
	waitFor(t, "registration", func() bool { return len(o.Sinks()) == 1 })
	for i := range 50 {
		if _, err := o.Append(ctx, []byte(fmt.Sprintf("ev-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// While the sink is down the backlog is kept and counted.
	waitFor(t, "retries", func() bool { sink.mu.Lock(); defer sink.mu.Unlock(); return sink.calls >= 3 })
	st := o.Backlog("test")
	if st.Pending != 50 || st.PendingBytes != 50*(9+5) {
		t.Fatalf("backlog while down %+v", st)
	}
	if o.Full() {
		t.Fatal("full below the limit")
	}
	if _, err := o.Append(ctx, []byte(strings.Repeat("x", 2000))); err != nil {
		t.Fatal(err)
	}
	if !o.Full() {
		t.Fatalf("not full over the limit: %+v", o.Backlog("test"))
	}
	cancel()
	<-done
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart with a backlog remembers it, then ships it all in order.
	o, err = Open(dir, Options{MaxBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if st := o.Backlog("test"); st.Pending != 51 || st.PendingBytes != 50*14+2009 || !o.Full() {
		t.Fatalf("backlog after restart %+v full %v", st, o.Full())
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(o)
	if n := gaugeOf(t, reg, "tensorgate_outbox_oldest_unshipped_seconds"); n <= 0 {
		t.Fatalf("oldest unshipped age %v", n)
	}
	sink.setDown(false)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = o.Ship(ctx, sink, ShipOptions{Batch: 7}) }()
	waitFor(t, "the backlog to ship", func() bool { return o.Backlog("test").Pending == 0 })
	got := sink.shipped()
	if len(got) != 51 {
		t.Fatalf("shipped %d events, want 51", len(got))
	}
	for i := range 50 {
		if got[i] != fmt.Sprintf("ev-%02d", i) {
			t.Fatalf("event %d is %q", i, got[i])
		}
	}
	if o.Full() || o.Backlog("test").PendingBytes != 0 {
		t.Fatalf("still full after shipping: %+v", o.Backlog("test"))
	}
	// New events are shipped as they arrive.
	if _, err := o.Append(ctx, []byte("late")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new event", func() bool { return len(sink.shipped()) == 52 })
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tensorgate_outbox_pending_events Events a sink has not shipped yet.
# TYPE tensorgate_outbox_pending_events gauge
tensorgate_outbox_pending_events{sink="test"} 0
# HELP tensorgate_outbox_shipped_total Events shipped, by sink.
# TYPE tensorgate_outbox_shipped_total counter
tensorgate_outbox_shipped_total{sink="test"} 52
`), "tensorgate_outbox_pending_events", "tensorgate_outbox_shipped_total"); err != nil {
		t.Fatal(err)
	}
}

// gaugeOf returns the value of a gauge with one series.
func gaugeOf(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestScanBackIsNewestFirst(t *testing.T) {
	o := openTest(t, t.TempDir())
	ctx := context.Background()
	for i := range 10 {
		if _, err := o.Append(ctx, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	scan := func(before uint64, n int) (out []string, last uint64) {
		err := o.ScanBack(before, func(seq uint64, data []byte) bool {
			out, last = append(out, string(data)), seq
			return len(out) < n
		})
		if err != nil {
			t.Fatal(err)
		}
		return out, last
	}
	got, last := scan(0, 3)
	if fmt.Sprint(got) != "[9 8 7]" {
		t.Fatalf("newest: %v", got)
	}
	if got, _ = scan(last, 100); fmt.Sprint(got) != "[6 5 4 3 2 1 0]" {
		t.Fatalf("older: %v", got)
	}
	recs, err := o.Read(0, 1)
	if err != nil || len(recs) != 1 || time.Since(recs[0].Appended) > time.Minute || recs[0].Appended.After(time.Now()) {
		t.Fatalf("append time: %+v %v", recs, err)
	}
}
