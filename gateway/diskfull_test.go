package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeDisk is the node's disk guard as the gateway sees it.
type fakeDisk struct{ full atomic.Bool }

func (d *fakeDisk) Full() bool { return d.full.Load() }

const chatBody = `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`

func TestFullDiskRefusesBeforeTheUpstreamCall(t *testing.T) {
	e := newEnv(t)
	e.disk.full.Store(true)
	for _, path := range []string{"/v1/chat/completions", "/v1/embeddings"} {
		res := e.post(path, e.key, chatBody)
		var body struct{ Error struct{ Code, Type string } }
		_ = json.NewDecoder(res.Body).Decode(&body)
		if res.StatusCode != 503 || body.Error.Code != "storage_full" || res.Header.Get("Retry-After") == "" {
			t.Fatalf("%s on a full disk: %d %+v Retry-After %q; want 503 storage_full with Retry-After",
				path, res.StatusCode, body, res.Header.Get("Retry-After"))
		}
	}
	if n := e.oa.Requests(); n != 0 {
		t.Fatalf("the upstream was called %d times for refused requests", n)
	}
	if evs := e.rec.all(); len(evs) != 0 {
		t.Fatalf("refused requests left %d events", len(evs))
	}

	e.disk.full.Store(false)
	if res := e.post("/v1/chat/completions", e.key, chatBody); res.StatusCode != 200 {
		t.Fatalf("once space is back: %d", res.StatusCode)
	}
	if evs := e.rec.all(); len(evs) != 1 {
		t.Fatalf("%d events after one answered request, want 1", len(evs))
	}
}

// The disk fills while a request is under way: its event cannot be
// stored, so its answer is never completed (nothing answered is lost).
func TestDiskFilledMidRequestWithholdsTheAnswer(t *testing.T) {
	e := newEnv(t)
	e.rec.diskFull.Store(true)

	// A body under way is cut: the client sees the connection end, before
	// or within the answer, never a complete one.
	req, _ := http.NewRequest("POST", e.gw.URL+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("Authorization", "Bearer "+e.key)
	if res, err := http.DefaultClient.Do(req); err == nil {
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil && (res.StatusCode != 503 || !strings.Contains(string(b), "storage_full")) {
			t.Fatalf("an answer whose record was not stored: %d %s", res.StatusCode, b)
		}
	}

	res := e.post("/v1/chat/completions", e.key, `{"model":"gpt-mock","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	b, _ := io.ReadAll(res.Body)
	if strings.Contains(string(b), "[DONE]") || !strings.Contains(string(b), "storage_full") {
		t.Fatalf("stream whose record was not stored ended with:\n%s\nwant a storage_full error event and no [DONE]", b)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream status %d", res.StatusCode)
	}
}
