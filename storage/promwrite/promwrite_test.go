package promwrite

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// startPrometheus runs Debian's Prometheus with its remote-write receiver
// on a free loopback port and returns its address.
func startPrometheus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("this test needs a real remote-write receiver: install Debian's Prometheus (apt-get install prometheus); .ci/run does")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver", "--log.level=warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("prometheus did not become ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func query(t *testing.T, addr, q string) []map[string]any {
	t.Helper()
	res, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Status string
		Data   struct{ Result []map[string]any }
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Status != "success" {
		t.Fatalf("query %s: %v %+v", q, err, out)
	}
	return out.Data.Result
}

// TestPushToARealReceiver pushes counters, labelled gauges and a
// histogram by remote write to Prometheus, then reads them back with
// PromQL, with the node's labels on every series.
func TestPushToARealReceiver(t *testing.T) {
	addr := startPrometheus(t)
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "tensorgate_test_requests_total", Help: "x"})
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tensorgate_test_pending", Help: "x"}, []string{"sink"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tensorgate_test_seconds", Help: "x", Buckets: []float64{0.1, 1, 10}})
	reg.MustRegister(c, g, h)
	c.Add(42)
	g.WithLabelValues("postgres").Set(7)
	g.WithLabelValues("greptimedb").Set(3)
	for _, v := range []float64{0.05, 0.5, 0.5, 5} {
		h.Observe(v)
	}
	p := &Pusher{URL: "http://" + addr + "/api/v1/write", Gatherer: reg, Labels: map[string]string{"instance": "node1", "job": "tensorgate"}}
	if err := p.Push(context.Background()); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		`tensorgate_test_requests_total{instance="node1",job="tensorgate"}`: "42",
		`tensorgate_test_pending{sink="postgres",instance="node1"}`:         "7",
		`sum(tensorgate_test_pending)`:                                      "10",
		`tensorgate_test_seconds_count`:                                     "4",
		`tensorgate_test_seconds_bucket{le="1"}`:                            "3",
		`tensorgate_test_seconds_bucket{le="+Inf"}`:                         "4",
	} {
		r := query(t, addr, q)
		if len(r) != 1 || fmt.Sprint(r[0]["value"].([]any)[1]) != want {
			t.Errorf("%s = %v, want %s", q, r, want)
		}
	}
	// A receiver that refuses is an error.
	p.URL = "http://" + addr + "/api/v1/nowhere"
	if err := p.Push(context.Background()); err == nil {
		t.Fatal("a push to a wrong path succeeded")
	}
}
