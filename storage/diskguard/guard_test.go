package diskguard

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeDisk is a StatFunc whose free space the test sets.
type fakeDisk struct {
	mu   sync.Mutex
	free map[string]int64
	err  map[string]error
}

func (f *fakeDisk) set(dir string, free int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.free[dir] = free
}

func (f *fakeDisk) fail(dir string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err[dir] = err
}

func (f *fakeDisk) stat(dir string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err[dir]; err != nil {
		return 0, err
	}
	return f.free[dir], nil
}

func newFake() *fakeDisk {
	return &fakeDisk{free: map[string]int64{}, err: map[string]error{}}
}

func TestFullAndRecovered(t *testing.T) {
	disk := newFake()
	disk.set("/data", 1000)
	disk.set("/images", 1000)
	var logs bytes.Buffer
	g, err := New(Config{Dirs: []string{"/data", "/images", "/data"}, Reserve: 500, Stat: disk.stat,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if g.Full() || g.Err() != nil {
		t.Fatalf("full at start with room: %v", g.Err())
	}
	if got := len(g.Status()); got != 2 {
		t.Fatalf("watching %d dirs, want 2 (duplicates merged)", got)
	}

	disk.set("/images", 499)
	for range 100 {
		err = g.Check()
	}
	var fe *FullError
	if !errors.As(err, &fe) || !errors.Is(err, ErrFull) || fe.Dir != "/images" || fe.Free != 499 || fe.Reserve != 500 {
		t.Fatalf("Check = %v, want a FullError for /images with 499 free", err)
	}
	if !g.Full() || !errors.Is(g.Err(), ErrFull) {
		t.Fatal("Full is false below the reserve")
	}

	disk.set("/images", 500) // exactly the reserve is enough
	for range 100 {
		err = g.Check()
	}
	if err != nil || g.Full() {
		t.Fatalf("still full at the reserve: %v", err)
	}

	// One line when it became full, one when it recovered, whatever the
	// number of looks in between.
	if n := strings.Count(logs.String(), "disk below its reserve"); n != 1 {
		t.Errorf("logged full %d times, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "disk has room again"); n != 1 {
		t.Errorf("logged recovery %d times, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "component=diskguard") || !strings.Contains(logs.String(), "dir=/images") {
		t.Errorf("log lines lack the component or the directory:\n%s", logs.String())
	}
}

func TestStatFailureKeepsLastMeasurement(t *testing.T) {
	disk := newFake()
	disk.set("/data", 100)
	var logs bytes.Buffer
	g, err := New(Config{Dirs: []string{"/data"}, Reserve: 500, Stat: disk.stat, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !g.Full() {
		t.Fatal("not full with 100 free and a reserve of 500")
	}
	disk.fail("/data", errors.New("stale NFS handle"))
	for range 10 {
		_ = g.Check()
	}
	if !g.Full() {
		t.Fatal("a failed measurement cleared the full state")
	}
	if st := g.Status()[0]; st.Err == "" || st.Free != 100 {
		t.Fatalf("status after a failed stat: %+v", st)
	}
	if n := strings.Count(logs.String(), "cannot measure"); n != 1 {
		t.Fatalf("logged the failure %d times, want 1:\n%s", n, logs.String())
	}
}

func TestRunAndWaitRoom(t *testing.T) {
	disk := newFake()
	disk.set("/data", 0)
	g, err := New(Config{Dirs: []string{"/data"}, Reserve: 10, Interval: time.Millisecond, Stat: disk.stat})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()

	wctx, wcancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if err := g.WaitRoom(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRoom on a full disk = %v, want the deadline", err)
	}
	wcancel()

	disk.set("/data", 10)
	if err := g.WaitRoom(ctx); err != nil {
		t.Fatal(err)
	}
	// Run's looks clear Full too (polling, never a fixed sleep).
	for deadline := time.Now().Add(10 * time.Second); g.Full(); {
		if time.Now().After(deadline) {
			t.Fatal("Run never saw the space come back")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

func TestMetrics(t *testing.T) {
	disk := newFake()
	disk.set("/data", 42)
	g, err := New(Config{Dirs: []string{"/data"}, Reserve: 100, Stat: disk.stat})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	want := `
# HELP tensorgate_disk_free_bytes Bytes free on the filesystem of each directory the node writes to, as last measured.
# TYPE tensorgate_disk_free_bytes gauge
tensorgate_disk_free_bytes{dir="/data"} 42
# HELP tensorgate_disk_full 1 while some directory the node writes to has less free space than the reserve.
# TYPE tensorgate_disk_full gauge
tensorgate_disk_full 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tensorgate_disk_free_bytes", "tensorgate_disk_full"); err != nil {
		t.Fatal(err)
	}
}

func TestStatfsMeasuresARealDirectory(t *testing.T) {
	free, err := statfs(t.TempDir())
	if err != nil || free <= 0 {
		t.Fatalf("statfs of a temporary directory: %d, %v", free, err)
	}
	if _, err := statfs("/nonexistent/dir/of/a/test"); err == nil {
		t.Fatal("statfs of a missing directory did not fail")
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(Config{Reserve: 1}); err == nil {
		t.Error("no directories accepted")
	}
	if _, err := New(Config{Dirs: []string{"/"}, Reserve: -1}); err == nil {
		t.Error("a negative reserve accepted")
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"268435456", 256 << 20, false},
		{"256MiB", 256 << 20, false},
		{"1GiB", 1 << 30, false},
		{" 64 KiB ", 64 << 10, false},
		{"500MB", 500e6, false},
		{"10B", 10, false},
		{"0", 0, false},
		{"1.5GiB", 0, true},
		{"-1", 0, true},
		{"lots", 0, true},
		{"", 0, true},
		{"99999999999TiB", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d (error %v)", tc.in, got, err, tc.want, tc.bad)
			}
		})
	}
	for n, want := range map[int64]string{256 << 20: "256MiB", 1 << 30: "1GiB", 1000: "1000", 3 << 10: "3KiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
