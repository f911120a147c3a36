package outbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func openTest(t testing.TB, dir string) *Outbox {
	t.Helper()
	o, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func TestAppendReadAckReopen(t *testing.T) {
	dir := t.TempDir()
	o := openTest(t, dir)
	if _, err := o.Register("pg"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	seqs := make([]uint64, 200)
	for i := range seqs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := o.Append(ctx, []byte(fmt.Sprintf("event-%d", i)))
			if err != nil {
				t.Error(err)
			}
			seqs[i] = s
		}(i)
	}
	wg.Wait()
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("seqs not dense: %v", seqs[:10])
		}
	}
	recs, err := o.Read(0, 500)
	if err != nil || len(recs) != 200 {
		t.Fatalf("read %d, %v", len(recs), err)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("out of order at %d: %d", i, r.Seq)
		}
	}
	if st := o.Backlog("pg"); st.Pending != 200 {
		t.Fatalf("backlog %+v", st)
	}
	if err := o.Ack("pg", 150, 0); err != nil {
		t.Fatal(err)
	}
	if st := o.Backlog("pg"); st.Pending != 50 {
		t.Fatalf("backlog after ack %+v", st)
	}
	if err := o.Ack("nope", 1, 0); err == nil {
		t.Fatal("ack for an unknown sink accepted")
	}
	// A second sink starts at the end and holds events back from deletion
	// only from there on.
	if c, _ := o.Register("greptime"); c != 200 {
		t.Fatalf("new sink cursor %d, want 200", c)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(ctx, []byte("late")); err != ErrClosed {
		t.Fatalf("append after close: %v", err)
	}

	o2 := openTest(t, dir)
	if c, _ := o2.Register("pg"); c != 150 {
		t.Fatalf("cursor after reopen %d, want 150", c)
	}
	s, err := o2.Append(ctx, []byte("after restart"))
	if err != nil || s != 201 {
		t.Fatalf("seq after reopen %d, %v; want 201", s, err)
	}
	if recs, _ := o2.Read(150, 10); len(recs) != 10 || recs[0].Seq != 151 {
		t.Fatalf("backlog after reopen: %v", recs)
	}
}

// BenchmarkAppend measures durable appends from many concurrent requests,
// group-committed. events/s and the p99 latency added to a request are the
// figures to report.
func BenchmarkAppend(b *testing.B) {
	o := openTest(b, b.TempDir())
	ev := make([]byte, 1500) // a typical event with capped bodies
	ctx := context.Background()
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(64)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if _, err := o.Append(ctx, ev); err != nil {
				b.Fatal(err)
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func TestRetentionTrimsOnlyShippedEvents(t *testing.T) {
	o, err := Open(t.TempDir(), Options{Retain: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	o.Register("pg")
	ctx := context.Background()
	for i := 0; i < 3000; i++ {
		if _, err := o.Append(ctx, []byte("e")); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing shipped: nothing trimmed.
	if recs, _ := o.Read(0, 5000); len(recs) != 3000 {
		t.Fatalf("%d events kept, want all 3000 unshipped", len(recs))
	}
	if err := o.Ack("pg", 3000, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2000; i++ {
		if _, err := o.Append(ctx, []byte("e")); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ := o.Read(0, 10000)
	if len(recs) >= 5000 || recs[0].Seq <= 1 {
		t.Fatalf("shipped events were not trimmed: %d kept from %d", len(recs), recs[0].Seq)
	}
	if recs[len(recs)-1].Seq != 5000 {
		t.Fatalf("newest event lost: %d", recs[len(recs)-1].Seq)
	}
}

// BenchmarkAppendLatencyAtRate measures the latency a durable append adds
// to a request at a steady 2,000 events/s from many requests at once, the
// load of a busy node, rather than at saturation:
//
//	go test ./storage/outbox -run '^$' -bench AppendLatencyAtRate -benchtime 10000x
//
// BenchmarkAppendLatencyAtRate measures the latency an append adds to a
// request at a steady 2000 events/s, next to the floor any durable
// append pays on the same disk in the same run: one write and fsync of a
// plain file, at the same rate.
func BenchmarkAppendLatencyAtRate(b *testing.B) {
	// A small retention keeps the trimmer deleting during the run, as in
	// a node's steady state.
	o, err := Open(b.TempDir(), Options{Retain: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	ev := make([]byte, 1500)
	ctx := context.Background()
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync-floor"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var fmu sync.Mutex
	atRate := func(op func()) (p50, p99 time.Duration) {
		const rate = 2000
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		lat := make([]time.Duration, b.N)
		var wg sync.WaitGroup
		for i := 0; i < b.N; i++ {
			<-tick.C
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				t0 := time.Now()
				op()
				lat[i] = time.Since(t0)
			}(i)
		}
		wg.Wait()
		slices.Sort(lat)
		return lat[len(lat)/2], lat[len(lat)*99/100]
	}
	b.ResetTimer()
	p50, p99 := atRate(func() {
		if _, err := o.Append(ctx, ev); err != nil {
			b.Error(err)
		}
	})
	f50, f99 := atRate(func() {
		fmu.Lock()
		defer fmu.Unlock()
		_, _ = f.Write(ev)
		_ = f.Sync()
	})
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(f50), "fsync-p50-ms")
	b.ReportMetric(ms(f99), "fsync-p99-ms")
	b.ReportMetric(0, "ns/op")
}

// TestLargeBatchesSpanTransactions appends events whose batch exceeds one
// badger transaction.
func TestLargeBatchesSpanTransactions(t *testing.T) {
	o := openTest(t, t.TempDir())
	big := make([]byte, 256<<10)
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := o.Append(context.Background(), big); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	recs, err := o.Read(0, 100)
	if err != nil || len(recs) != 40 {
		t.Fatalf("%d events, %v", len(recs), err)
	}
}

// An Append that has returned is already counted in the backlog and in
// Full: the data plane checks Full right after writing an event.
func TestAppendIsCountedWhenItReturns(t *testing.T) {
	// The committer pauses after answering: anything it counts only
	// then would be missing when the caller looks.
	testHookAnswered = func() { time.Sleep(2 * time.Millisecond) }
	defer func() { testHookAnswered = nil }()
	o, err := Open(t.TempDir(), Options{MaxBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.Register("s"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var want int64
	for i := range 20 {
		if _, err := o.Append(ctx, []byte("event")); err != nil {
			t.Fatal(err)
		}
		want += 9 + 5
		if st := o.Backlog("s"); st.PendingBytes != want {
			t.Fatalf("after append %d the backlog is %+v, want %d bytes", i, st, want)
		}
	}
}
