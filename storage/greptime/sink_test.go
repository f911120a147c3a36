package greptime

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/outbox"
)

// recorder is a stand-in GreptimeDB: it keeps every write it is sent and
// fails the first failN of them.
type recorder struct {
	mu     sync.Mutex
	failN  int
	bodies []string
	urls   []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, string(b))
	r.urls = append(r.urls, req.URL.String())
	if r.failN > 0 {
		r.failN--
		http.Error(w, "region unavailable", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func rec(t *testing.T, seq uint64, ev event.Event) outbox.Record {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return outbox.Record{Seq: seq, Data: b}
}

func TestLineProtocolBytes(t *testing.T) {
	r := &recorder{failN: 1}
	srv := httptest.NewServer(r)
	defer srv.Close()
	s, err := New(srv.URL+"/v1/influxdb/write?db=public", nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC)
	ok := event.Event{RequestID: "req_a", Time: at, Node: "node 1", OrgID: "org,1", KeyID: "key_1", Capability: "llm",
		Model: "qwen=plus", Provider: "dashscope", Status: 200, Currency: "CNY", CostMicros: 42, LatencyMS: 120, TTFBMS: 30,
		Usage:    event.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15},
		Attempts: []event.Attempt{{Provider: "dashscope", Result: "ok"}}}
	failed := event.Event{RequestID: `req_"b"`, Time: at, Node: "n2", OrgID: "org1", KeyID: "key_2", Capability: "image",
		Model: `m\x`, Status: 502, ErrorCode: "upstream_error"}
	recs := []outbox.Record{rec(t, 1001, ok), rec(t, 7, failed), {Seq: 8, Data: []byte("garbage")}}

	// The first write fails; the retry sends the very same bytes, so
	// GreptimeDB keeps one row per event.
	if err := s.Ship(context.Background(), recs); err == nil || !strings.Contains(err.Error(), "HTTP 503: region unavailable") {
		t.Fatalf("first write: %v", err)
	}
	if err := s.Ship(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	want := `tensorgate_requests,capability=llm,model=qwen\=plus,node=node\ 1,org=org\,1,provider=dashscope,status_class=2xx ` +
		`status=200i,prompt_tokens=10i,completion_tokens=5i,total_tokens=15i,images=0i,seconds=0i,pages=0i,characters=0i,` +
		`cost_micros=42i,latency_ms=120i,ttfb_ms=30i,attempts=1i,request_id="req_a",key_id="key_1",currency="CNY",error_code="" 1795600800123456001` + "\n" +
		`tensorgate_requests,capability=image,model=m/x,node=n2,org=org1,status_class=5xx ` +
		`status=502i,prompt_tokens=0i,completion_tokens=0i,total_tokens=0i,images=0i,seconds=0i,pages=0i,characters=0i,` +
		`cost_micros=0i,latency_ms=0i,ttfb_ms=0i,attempts=0i,request_id="req_\"b\"",key_id="key_2",currency="",error_code="upstream_error" 1795600800123456007` + "\n"
	if len(r.bodies) != 2 || r.bodies[0] != want || r.bodies[1] != want {
		t.Fatalf("writes:\n%q\nwant:\n%q", r.bodies, want)
	}
	if r.urls[0] != "/v1/influxdb/write?db=public&precision=ns" {
		t.Fatalf("url %s", r.urls[0])
	}
}

func TestWriteURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://g:4000":  "http://g:4000/v1/influxdb/write?precision=ns",
		"http://g:4000/": "http://g:4000/v1/influxdb/write?precision=ns",
		"https://g/v1/influxdb/api/v2/write?bucket=b&precision=ns": "https://g/v1/influxdb/api/v2/write?bucket=b&precision=ns",
	} {
		s, err := New(in, nil)
		if err != nil || s.url != want {
			t.Errorf("%s: %v %v, want %s", in, s, err, want)
		}
	}
	for _, bad := range []string{"greptime:4000", "ftp://g/x", "http://g/w?precision=ms", "::"} {
		if _, err := New(bad, nil); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
