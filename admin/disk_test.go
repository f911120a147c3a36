package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/storage/diskguard"
)

// testDisk is a disk guard over a free-space figure the test sets.
func testDisk(t *testing.T, logs io.Writer) (*diskguard.Guard, *atomic.Int64) {
	t.Helper()
	var free atomic.Int64
	free.Store(1 << 30)
	g, err := diskguard.New(diskguard.Config{Dirs: []string{"/data"}, Reserve: 1 << 20,
		Stat: func(string) (int64, error) { return free.Load(), nil }, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return g, &free
}

func TestFullDiskHealthAndWrites(t *testing.T) {
	var logs syncBuffer
	g, free := testDisk(t, &logs)
	e := newEnv(t, func(c *cluster.Config, d *Deps) { c.Space, d.Disk = g, g })
	e.api.log = slog.New(slog.NewTextHandler(&logs, nil))

	free.Store(1000)
	_ = g.Check()
	r := e.do("GET", "/api/health", "", nil)
	m := r.json(t)
	if r.status != 503 || m["status"] != "disk_full" || m["full_dir"] != "/data" || m["free_bytes"] != float64(1000) ||
		!strings.Contains(m["reason"].(string), "/data") {
		t.Fatalf("health on a full disk: %d %s", r.status, r.body)
	}
	for range 3 {
		r = e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "research"})
		if code, _ := r.errCode(t); r.status != 503 || code != "storage_full" || r.header.Get("Retry-After") == "" {
			t.Fatalf("admin write on a full disk: %d %s", r.status, r.body)
		}
	}
	if _, ok := e.fsm.View().OrgByName("research"); ok {
		t.Fatal("a write refused for a full disk was applied")
	}
	// Reads still work.
	if r := e.do("GET", "/api/admin/orgs", e.token, nil); r.status != 200 {
		t.Fatalf("admin read on a full disk: %d %s", r.status, r.body)
	}

	free.Store(1 << 30)
	_ = g.Check()
	if r := e.do("GET", "/api/health", "", nil); r.status != 200 {
		t.Fatalf("health once space is back: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "research"}); r.status != 201 {
		t.Fatalf("admin write once space is back: %d %s", r.status, r.body)
	}
	// The guard logged the change twice; no line per refused write.
	if n := strings.Count(logs.String(), "admin request failed"); n != 0 {
		t.Fatalf("%d log lines for refused writes:\n%s", n, logs.String())
	}
}

func TestWaitingHandler(t *testing.T) {
	g, free := testDisk(t, io.Discard)
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	srv := httptest.NewServer(WaitingHandler("n1", "test", g, reg))
	t.Cleanup(srv.Close)
	get := func(path string) (int, map[string]any, string) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return res.StatusCode, m, string(b)
	}
	if code, m, b := get("/api/health"); code != 503 || m["status"] != "starting" {
		t.Fatalf("health while opening: %d %s", code, b)
	}
	free.Store(10)
	_ = g.Check()
	if code, m, b := get("/api/health"); code != 503 || m["status"] != "disk_full" || m["full_dir"] != "/data" {
		t.Fatalf("health on a full disk: %d %s", code, b)
	}
	if code, _, b := get("/metrics"); code != 200 || !strings.Contains(b, `tensorgate_disk_free_bytes{dir="/data"} 10`) ||
		!strings.Contains(b, "tensorgate_disk_full 1") {
		t.Fatalf("metrics on a full disk: %d\n%s", code, b)
	}
	if code, m, b := get("/api/admin/orgs"); code != 503 || m["error"].(map[string]any)["code"] != "storage_full" {
		t.Fatalf("admin call on a full disk before storage opened: %d %s", code, b)
	}
}

// syncBuffer is a bytes.Buffer for log handlers written from handlers'
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
