package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/gateway/alert"
	"github.com/tensorgate/tensorgate/gateway/mockupstream"
)

// alertHook is a webhook receiver that checks each alert's signature.
type alertHook struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	got    []alert.Alert
	srv    *httptest.Server
}

func newAlertHook(t *testing.T, secret string) *alertHook {
	h := &alertHook{t: t, secret: secret}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if sig := alert.Sign([]byte(secret), r.Header.Get(alert.HeaderTimestamp), body); sig != r.Header.Get(alert.HeaderSignature) {
			t.Errorf("alert with a bad signature: %s", body)
		}
		var a alert.Alert
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("alert body %s", body)
		}
		h.mu.Lock()
		h.got = append(h.got, a)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// types counts the alerts received by type.
func (h *alertHook) types() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for _, a := range h.got {
		out[a.Type]++
	}
	return out
}

// imageLink generates an image through p and returns the link it answers.
func imageLink(t *testing.T, p *proc, key string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", p.url("/v1/images/generations"), strings.NewReader(`{"model":"img","prompt":"a cat"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data []struct{ URL string }
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || len(out.Data) != 1 {
		t.Fatalf("image: %d %v", res.StatusCode, err)
	}
	return out.Data[0].URL
}

// breakerState is the state of provider's breaker on p ("" if p has none).
func breakerState(t *testing.T, p *proc, tok, provider string) string {
	t.Helper()
	code, m := p.call("GET", "/api/admin/breakers", tok, nil)
	if code != 200 {
		t.Fatalf("breakers on %s: %d %v", p.id, code, m)
	}
	for _, b := range m["data"].([]any) {
		if b := b.(map[string]any); b["provider"] == provider {
			return b["state"].(string)
		}
	}
	return ""
}

// TestBreakerSpreadsAcrossNodes opens a failing primary's breaker on one
// node and times how long the others take to skip it too; then changes an
// org policy through one node and sees every node route by it at once.
func TestBreakerSpreadsAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	hook := newAlertHook(t, "hook-secret")
	ps := startClusterEnv(t, 3, []string{"TENSORGATE_ALERT_WEBHOOK_SECRET=hook-secret"}, "--alert-webhook-url", hook.srv.URL)
	tok := ps[0].login("ai-gateway-admin-2026")
	var mocks []*mockupstream.Server
	for _, slug := range []string{"primary", "secondary"} {
		m := mockupstream.New(mockupstream.Behavior{})
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		if code, r := ps[0].call("POST", "/api/admin/providers", tok, map[string]any{"name": slug, "slug": slug, "base_url": srv.URL, "models": "m"}); code != 201 {
			t.Fatalf("provider: %d %v", code, r)
		}
		mocks = append(mocks, m)
	}
	mocks[0].Set(mockupstream.Behavior{FailStatus: 500})
	if code, r := ps[0].call("PUT", "/api/admin/routes/m", tok, map[string]any{"strategy": "priority",
		"targets": []map[string]any{{"provider": "primary", "model": "m"}, {"provider": "secondary", "model": "m"}}}); code != 200 {
		t.Fatalf("route: %d %v", code, r)
	}
	key, _ := createKey(t, ps, tok, map[string]any{"name": "routing"})

	for i := 0; breakerState(t, ps[0], tok, "primary") != "open"; i++ {
		if r := chat(ps[0], key, "m", 8); r.status != 200 {
			t.Fatalf("request %d on node1: %+v", i, r)
		}
		if i > 10 {
			t.Fatal("node1's breaker did not open after 10 failures")
		}
	}
	opened := time.Now()
	var spread time.Duration
	for _, p := range ps[1:] {
		for breakerState(t, p, tok, "primary") != "open" {
			if time.Since(opened) > 5*time.Second {
				t.Fatalf("%s never learned of the open breaker", p.id)
			}
			time.Sleep(5 * time.Millisecond)
		}
		spread = max(spread, time.Since(opened))
	}
	t.Logf("a breaker opened on node1 was open on every node after %v", spread.Round(time.Millisecond))
	if spread > time.Second {
		t.Fatalf("breaker took %v to spread, want under 1s", spread)
	}
	// The other nodes skip the primary without calling it.
	before := mocks[0].Requests()
	for _, p := range ps[1:] {
		for range 5 {
			if r := chat(p, key, "m", 8); r.status != 200 {
				t.Fatalf("on %s: %+v", p.id, r)
			}
		}
	}
	if n := mocks[0].Requests() - before; n != 0 {
		t.Fatalf("the open primary got %d calls from the other nodes", n)
	}
	// The system webhook heard of it once, signed, from the node that saw
	// it: the others learned it from gossip and did not repeat it.
	time.Sleep(300 * time.Millisecond)
	if got := hook.types(); got["breaker_open"] != 1 {
		t.Fatalf("alerts received: %v", got)
	}

	// An image link from node1 works through any node: the others fetch
	// it from node1.
	painter := httptest.NewServer(mockupstream.New(mockupstream.Behavior{}))
	t.Cleanup(painter.Close)
	if code, r := ps[0].call("POST", "/api/admin/providers", tok, map[string]any{"name": "painter", "slug": "painter",
		"base_url": painter.URL, "models": "img", "capabilities": []string{"image"}}); code != 201 {
		t.Fatalf("provider: %d %v", code, r)
	}
	for _, p := range ps {
		p.call("GET", "/api/admin/providers/painter", tok, nil) // the read barrier: applied here
	}
	img := imageLink(t, ps[0], key)
	for _, p := range ps {
		u := strings.Replace(img, ps[0].http, p.http, 1)
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(string(b), "\x89PNG") {
			t.Fatalf("image link through %s: %d %q", p.id, res.StatusCode, b)
		}
	}

	// The container healthcheck and the preStop hook: health answers, and
	// step-down hands leadership over from the leader only.
	leader := leaderOf(ps)
	// Followers first (nothing to hand over), the leader last.
	order := slices.DeleteFunc(slices.Clone(ps), func(p *proc) bool { return p == leader })
	for _, p := range append(order, leader) {
		out, err := exec.Command(binPath, "health", "--addr", p.url("")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"status":"ok"`) {
			t.Fatalf("health on %s: %v %s", p.id, err, out)
		}
		out, err = exec.Command(binPath, "step-down", "--addr", p.url("")).CombinedOutput()
		want := "not the leader"
		if p == leader {
			want = "leadership handed to node"
		}
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("step-down on %s (leader %s): %v %s", p.id, leader.id, err, out)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for l := leaderOf(ps); l == nil || l == leader; l = leaderOf(ps) {
		if time.Now().After(deadline) {
			t.Fatal("leadership did not move after step-down")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A policy written through node1 routes calls on every node at once:
	// the org may use only the primary now, which fails.
	org := orgID(t, ps[0], tok, "default-org")
	if code, r := ps[0].call("PUT", "/api/admin/orgs/"+org+"/policy", tok, map[string]any{"allowed_providers": []string{"primary"}}); code != 200 {
		t.Fatalf("policy: %d %v", code, r)
	}
	for _, p := range ps {
		p.call("GET", "/api/admin/orgs/"+org+"/policy", tok, nil) // the read barrier: applied here
		if r := chat(p, key, "m", 8); r.status != 502 {
			t.Fatalf("on %s after the policy allowed only the failing primary: %+v", p.id, r)
		}
	}
}
