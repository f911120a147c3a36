package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/gateway/mockupstream"
)

// BenchmarkRSS1000Streams holds 1,000 slow streams open through a real
// tensorgate process and reports its resident memory (goal: under 200 MB):
//
//	go test ./cmd/tensorgate -run '^$' -bench RSS1000Streams -benchtime 1x
func BenchmarkRSS1000Streams(b *testing.B) {
	const streams = 1000
	mock := mockupstream.New(mockupstream.Behavior{Chunks: 10, ChunkDelay: 400 * time.Millisecond})
	up := httptest.NewServer(mock)
	defer up.Close()
	p := startProc(b, b.TempDir(), "BETTER_AUTH_SECRET=rss-benchmark-secret-0123")
	tok := p.login("ai-gateway-admin-2026")
	if code, m := p.call("POST", "/api/admin/providers", tok, map[string]any{"name": "Mock", "slug": "mock", "base_url": up.URL, "models": "mock-model"}); code != 201 {
		b.Fatalf("provider: %d %v", code, m)
	}
	_, key := p.call("POST", "/api/admin/keys", tok, map[string]any{"name": "rss"})
	secret := key["key"].(string)
	idle := rssKB(b, p.cmd.Process.Pid, "VmRSS")

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams, MaxConnsPerHost: 0}}
	for i := 0; i < b.N; i++ {
		var wg, started sync.WaitGroup
		errs := make(chan error, streams)
		started.Add(streams)
		for s := 0; s < streams; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				once := sync.OnceFunc(started.Done)
				defer once()
				req, _ := http.NewRequest("POST", p.url("/v1/chat/completions"), strings.NewReader(`{"model":"mock-model","stream":true,"messages":[{"role":"user","content":"hold on"}]}`))
				req.Header.Set("Authorization", "Bearer "+secret)
				res, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				defer res.Body.Close()
				sc := bufio.NewScanner(res.Body)
				sawDone := false
				for sc.Scan() {
					once()
					if sc.Text() == "data: [DONE]" {
						sawDone = true
					}
				}
				if res.StatusCode != 200 || !sawDone {
					errs <- fmt.Errorf("status %d, done %v", res.StatusCode, sawDone)
				}
			}()
		}
		started.Wait()
		time.Sleep(time.Second) // every stream is open and mid-answer
		during := rssKB(b, p.cmd.Process.Pid, "VmRSS")
		open := mock.PeakInFlight()
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		if open < streams {
			b.Fatalf("only %d streams were open at once", open)
		}
		b.ReportMetric(float64(idle)/1024, "idle-MB")
		b.ReportMetric(float64(during)/1024, "rss-MB")
		b.ReportMetric(float64(rssKB(b, p.cmd.Process.Pid, "VmHWM"))/1024, "peak-MB")
		b.ReportMetric(float64(during-idle)/streams, "KB/stream")
	}
	b.ReportMetric(0, "ns/op")
}

func rssKB(b *testing.B, pid int, field string) int64 {
	b.Helper()
	f, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(f), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
