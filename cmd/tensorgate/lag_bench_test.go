package main

import (
	"bufio"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/gateway/mockupstream"
	"github.com/tensorgate/tensorgate/storage/pgsink/pgtest"
)

// BenchmarkEventLagAt1000RPS drives a real tensorgate process with a
// Postgres sink at 1,000 requests/s for 10 s and reports the lag from an
// event's append (just before the response's last byte) to its row being
// committed, from the node's own histogram (goal: p99 under 2 s):
//
//	go test ./cmd/tensorgate -run '^$' -bench EventLagAt1000RPS -benchtime 1x
func BenchmarkEventLagAt1000RPS(b *testing.B) {
	const (
		rate     = 1000
		duration = 10 * time.Second
	)
	up := httptest.NewServer(mockupstream.New(mockupstream.Behavior{}))
	defer up.Close()
	dsn := pgtest.NewDatabase(b)
	p := startProc(b, b.TempDir(), "BETTER_AUTH_SECRET=lag-benchmark-secret-0123", "DATABASE_URL="+dsn)
	tok := p.login("ai-gateway-admin-2026")
	if code, m := p.call("POST", "/api/admin/providers", tok, map[string]any{"name": "Mock", "slug": "mock", "base_url": up.URL, "models": "mock-model"}); code != 201 {
		b.Fatalf("provider: %d %v", code, m)
	}
	_, key := p.call("POST", "/api/admin/keys", tok, map[string]any{"name": "lag"})
	secret := key["key"].(string)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		var failed atomic.Int64
		tick := time.NewTicker(time.Second / rate)
		for n := 0; n < int(rate*duration.Seconds()); n++ {
			<-tick.C
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", p.url("/v1/chat/completions"), strings.NewReader(`{"model":"mock-model","messages":[{"role":"user","content":"lag"}]}`))
				req.Header.Set("Authorization", "Bearer "+secret)
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					return
				}
				_, _ = bufio.NewReader(res.Body).WriteTo(discard{})
				res.Body.Close()
				if res.StatusCode != 200 {
					failed.Add(1)
				}
			}()
		}
		tick.Stop()
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d requests failed", failed.Load())
		}
		deadline := time.Now().Add(time.Minute)
		for pendingEvents(p, "postgres") != 0 {
			if time.Now().After(deadline) {
				b.Fatal("backlog did not drain")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	p50, p99, n := lagQuantiles(b, p)
	b.ReportMetric(p50, "lag-p50-le-s")
	b.ReportMetric(p99, "lag-p99-le-s")
	b.ReportMetric(n, "events")
	b.ReportMetric(0, "ns/op")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// lagQuantiles reads the ship-lag histogram of the postgres sink and
// returns the upper bounds of the buckets holding its median and 99th
// percentile.
func lagQuantiles(b *testing.B, p *proc) (p50, p99, count float64) {
	res, err := http.Get(p.url("/metrics"))
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	type bucket struct{ le, n float64 }
	var bs []bucket
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `tensorgate_outbox_ship_lag_seconds_bucket{sink="postgres",le="`)
		if !ok {
			continue
		}
		le, v, _ := strings.Cut(rest, `"} `)
		l, _ := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			l = math.Inf(1)
		}
		n, _ := strconv.ParseFloat(v, 64)
		bs = append(bs, bucket{l, n})
	}
	if len(bs) == 0 {
		b.Fatal("no lag histogram")
	}
	count = bs[len(bs)-1].n
	q := func(f float64) float64 {
		for _, x := range bs {
			if x.n >= f*count {
				return x.le
			}
		}
		return math.Inf(1)
	}
	return q(0.5), q(0.99), count
}
