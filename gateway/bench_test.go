package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/auth"
	"github.com/tensorgate/tensorgate/gateway/mockupstream"
	"github.com/tensorgate/tensorgate/gateway/quota"
	"github.com/tensorgate/tensorgate/gateway/route"
)

// BenchmarkGatewayVsProxy drives the same fixed-concurrency load through a
// bare httputil.ReverseProxy that only swaps the key, and through the
// gateway, both in front of the zero-latency mock upstream, in one run.
// Compare req/s and p99-ms between the proxy and gateway lines of a case:
//
//	go test ./gateway -run '^$' -bench GatewayVsProxy -benchtime 20000x
func BenchmarkGatewayVsProxy(b *testing.B) {
	e := newBenchEnv(b)
	for _, stream := range []bool{false, true} {
		for _, conc := range []int{16, 64} {
			mode := map[bool]string{false: "json", true: "stream"}[stream]
			body := []byte(`{"model":"gpt-mock","messages":[{"role":"user","content":"Say hello to the benchmark."}]}`)
			if stream {
				body = []byte(`{"model":"gpt-mock","stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}`)
			}
			b.Run(fmt.Sprintf("%s/c=%d/proxy", mode, conc), func(b *testing.B) {
				runLoad(b, e.proxyURL+"/v1/chat/completions", "sk-client-key", body, conc)
			})
			b.Run(fmt.Sprintf("%s/c=%d/gateway", mode, conc), func(b *testing.B) {
				runLoad(b, e.gwURL+"/v1/chat/completions", e.key, body, conc)
			})
		}
	}
}

type benchEnv struct {
	proxyURL, gwURL, key string
}

func newBenchEnv(b *testing.B) *benchEnv {
	e := newEnv(b)
	e.oa.Set(mockupstream.Behavior{}) // no recording, no latency
	// Events are still built, redacted and encoded; the outbox's own
	// cost is measured by its benchmarks.
	e.rec.discard = true
	up, _ := url.Parse(e.oaURL)
	rp := &httputil.ReverseProxy{
		FlushInterval: -1,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			r.Out.Header.Set("Authorization", "Bearer "+openaiKey)
		},
	}
	rp.Transport = benchTransport()
	proxy := httptest.NewServer(rp)
	b.Cleanup(proxy.Close)
	return &benchEnv{proxyURL: proxy.URL, gwURL: e.gw.URL, key: e.key}
}

func benchTransport() *http.Transport {
	return &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
}

// runLoad sends b.N requests from conc workers and reports throughput and
// latency percentiles.
func runLoad(b *testing.B, target, key string, body []byte, conc int) {
	client := &http.Client{Transport: benchTransport()}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	lat := make([][]time.Duration, conc)
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				req, _ := http.NewRequest("POST", target, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					failed.Add(1)
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkHotPath measures authentication and model resolution, the work
// the gateway does on every request before calling upstream, against a
// state holding 10,000 keys.
func BenchmarkHotPath(b *testing.B) {
	sb := fsmtest.New(b)
	f, apply := sb.FSM, func(typ fsm.MessageType, body any) { sb.Apply(typ, body) }
	apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Create: true, Provider: fsm.Provider{Slug: "p", Name: "p", Format: fsm.FormatOpenAI,
		BaseURL: "http://h", APIPath: "/v1/chat/completions", Models: []string{"m1", "m2", "gpt-mock"}, Enabled: true}})
	var secretKey string
	for i := 0; i < 10000; i++ {
		secretKey = fmt.Sprintf("gk_benchmark_key_%08d", i)
		sum := sha256.Sum256([]byte(secretKey))
		apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: fmt.Sprint("k", i), OrgID: "org1", Name: "k",
			Hash: hex.EncodeToString(sum[:]), Scopes: []string{"llm"}}})
	}
	header := "Bearer " + secretKey
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			state := f.View()
			p, err := auth.Authenticate(state, header, now)
			if err != nil {
				b.Fatal(err)
			}
			if p.AllowPath("llm", "/v1/chat/completions") != nil || p.AllowModel("gpt-mock") != nil {
				b.Fatal("denied")
			}
			if len(route.Resolve(state, "gpt-mock", "llm", func(pv *fsm.Provider) bool { return p.AllowProvider(pv.Slug) })) != 1 {
				b.Fatal("no target")
			}
		}
	})
}

// BenchmarkLimitsOnVsOff drives one gateway, with its quota manager, with
// a key that has no limits and a key with RPM, TPM, concurrency and a
// priced budget (all far above the load), in one run. Compare req/s of
// the off and on lines:
//
//	go test ./gateway -run '^$' -bench LimitsOnVsOff -benchtime 20000x
func BenchmarkLimitsOnVsOff(b *testing.B) {
	e := newEnv(b)
	e.oa.Set(mockupstream.Behavior{})
	e.rec.discard = true
	m := quota.New(quota.Config{Node: "bench-node"}, commitFunc(e.b.Commit))
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go m.Run(ctx)
	gw, err := gateway.New(gateway.DefaultConfig(), gateway.Deps{State: e.f, Unsealer: e.sealer, Recorder: e.rec, Limiter: m, Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	b.Cleanup(srv.Close)
	e.apply(fsm.TypePriceUpsert, fsm.PriceUpsertBody{Price: fsm.Price{Model: "gpt-mock", Currency: "CNY",
		Rates: map[string]int64{fsm.UnitPromptToken: 800_000, fsm.UnitCompletionToken: 2_000_000}}})
	limited, _ := e.addKey(func(k *fsm.Key) {
		k.Limits = fsm.Limits{RPM: 1 << 40, TPM: 1 << 50, Concurrency: 1 << 20, Budget: 1 << 60, BudgetPeriod: fsm.PeriodTotal}
	})
	body := []byte(`{"model":"gpt-mock","max_tokens":64,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}`)
	for _, conc := range []int{16, 64} {
		for _, on := range []bool{false, true} {
			key := map[bool]string{false: e.key, true: limited}[on]
			b.Run(fmt.Sprintf("c=%d/limits=%v", conc, map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
				runLoad(b, srv.URL+"/v1/chat/completions", key, body, conc)
			})
		}
	}
}

// BenchmarkMediaVsDirect calls each media endpoint b.N times directly on
// the mock and b.N times through the gateway, alternating, and reports
// the median of each and what the gateway adds:
//
//	go test ./gateway -run '^$' -bench MediaVsDirect -benchtime 300x
func BenchmarkMediaVsDirect(b *testing.B) {
	e := newEnv(b)
	e.withMedia()
	e.oa.Set(mockupstream.Behavior{})
	e.rec.discard = true
	var audio bytes.Buffer
	mw := multipart.NewWriter(&audio)
	_ = mw.WriteField("model", "asr-mock")
	fw, _ := mw.CreateFormFile("file", "a.wav")
	fw.Write(wav(1))
	mw.Close()
	var image bytes.Buffer
	iw := multipart.NewWriter(&image)
	_ = iw.WriteField("model", "img-mock")
	_ = iw.WriteField("prompt", "a hat")
	ifw, _ := iw.CreateFormFile("image", "cat.png")
	ifw.Write([]byte("\x89PNG fake image"))
	iw.Close()
	cases := []struct {
		name, path, ct string
		body           []byte
	}{
		{"image", "/v1/images/generations", "application/json", []byte(`{"model":"img-mock","prompt":"a cat","response_format":"b64_json"}`)},
		{"image-edit", "/v1/images/edits", iw.FormDataContentType(), image.Bytes()},
		{"asr", "/v1/audio/transcriptions", mw.FormDataContentType(), audio.Bytes()},
		{"tts", "/v1/audio/speech", "application/json", []byte(`{"model":"tts-mock","input":"你好，世界","voice":"alloy"}`)},
		{"ocr", "/v1/ocr", "application/json", []byte(`{"model":"ocr-mock","document":{"type":"image_url","image_url":"http://x/a.png"}}`)},
		{"vision-segment", "/v1/vision/segment", "application/json", []byte(`{"model":"seg-mock","image":"http://x/a.png"}`)},
	}
	client := &http.Client{Transport: benchTransport()}
	once := func(url, key, ct string, body []byte) time.Duration {
		t0 := time.Now()
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", ct)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("%s: %d", url, res.StatusCode)
		}
		return time.Since(t0)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			direct, through := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
			for range b.N {
				direct = append(direct, once(e.oaURL+c.path, openaiKey, c.ct, c.body))
				through = append(through, once(e.gw.URL+c.path, e.key, c.ct, c.body))
			}
			slices.Sort(direct)
			slices.Sort(through)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(direct[len(direct)/2]), "direct-p50-ms")
			b.ReportMetric(ms(through[len(through)/2]), "gateway-p50-ms")
			b.ReportMetric(ms(through[len(through)/2]-direct[len(direct)/2]), "added-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
