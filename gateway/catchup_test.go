package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
)

// lateBarrier is a node behind its leader: a barrier applies the writes
// it had not applied yet.
type lateBarrier struct {
	calls   atomic.Int64
	mu      sync.Mutex
	pending []func()
}

func (l *lateBarrier) Barrier(context.Context) error {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.pending {
		f()
	}
	l.pending = nil
	return nil
}

// TestKeyCreatedElsewhereIsFoundAfterCatchingUp: a key created through
// another node and used at once on this one, which has not applied it
// yet, is served, not refused (seen as a 401 during a rolling restart).
func TestKeyCreatedElsewhereIsFoundAfterCatchingUp(t *testing.T) {
	e := newEnv(t)
	late := &lateBarrier{}
	e.gw = startGateway(t, e, gateway.Deps{Barrier: late})
	secretKey, create := lateKey(e, "key_late")
	late.pending = append(late.pending, create)
	res := e.post("/v1/chat/completions", secretKey, `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`)
	if res.StatusCode != 200 || late.calls.Load() != 1 {
		t.Fatalf("a key the node caught up with: %d after %d barriers", res.StatusCode, late.calls.Load())
	}
	// A flood of unknown keys from many clients at once shares catch-ups:
	// at most one starts every 50ms, whatever the number of requests.
	start := time.Now()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				req, _ := http.NewRequest("POST", e.gw.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-mock","messages":[]}`))
				req.Header.Set("Authorization", "Bearer gk_no_such_key_anywhere")
				res, err := http.DefaultClient.Do(req)
				if err != nil || res.StatusCode != 401 {
					bad.Add(1)
				}
				if err == nil {
					res.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d of 200 unknown keys were not answered 401", bad.Load())
	}
	elapsed := time.Since(start)
	if n, most := late.calls.Load()-1, int64(elapsed/(50*time.Millisecond))+2; n > most {
		t.Fatalf("200 unknown keys in %v made %d catch-ups, want at most %d", elapsed, n, most)
	}
}

// TestCatchUpStartsAfterTheRequest: a request that arrives while a
// catch-up is under way waits for the next one, since the one under way
// may have asked the leader before the request's key was created.
func TestCatchUpStartsAfterTheRequest(t *testing.T) {
	e := newEnv(t)
	gate := &gatedBarrier{started: make(chan struct{}, 4), release: make(chan struct{})}
	var gw *gateway.Server
	gw, e.gw = startGatewayServer(t, e, gateway.Deps{Barrier: gate})
	// A first request with an unknown key starts a catch-up that takes
	// only what the leader had then, and is held.
	first := make(chan int, 1)
	go func() { first <- postStatus(e.gw.URL, "gk_unknown_first_request_0123456789") }()
	<-gate.started
	// Now a key is created elsewhere and used here.
	secretKey, create := lateKey(e, "key_new")
	gate.mu.Lock()
	gate.pending = append(gate.pending, create)
	gate.mu.Unlock()
	second := make(chan int, 1)
	go func() { second <- postStatus(e.gw.URL, secretKey) }()
	// The second request joins the next round before the first ends.
	for deadline := time.Now().Add(5 * time.Second); !gateway.CatchUpQueued(gw); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second request never waited for a catch-up")
		}
	}
	close(gate.release)
	if got := <-first; got != 401 {
		t.Fatalf("unknown key: %d, want 401", got)
	}
	if got := <-second; got != 200 {
		t.Fatalf("key created after the running catch-up began: %d, want 200 (it must wait for the next catch-up)", got)
	}
}

// TestUndecidedKeyIs503: a node that cannot reach the cluster to confirm
// a key it does not know answers 503 with Retry-After, which SDKs retry,
// never 401; keys it knows keep working.
func TestUndecidedKeyIs503(t *testing.T) {
	e := newEnv(t)
	e.gw = startGateway(t, e, gateway.Deps{Barrier: failingBarrier{}})
	res := e.post("/v1/chat/completions", "gk_created_on_the_other_side_of_a_cut", `{"model":"gpt-mock","messages":[]}`)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"service_unavailable"`) {
		t.Fatalf("unknown key on a cut-off node: %d %q retry-after %q", res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	known, _ := e.addKey(nil)
	if res := e.post("/v1/chat/completions", known, `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`); res.StatusCode != 200 {
		t.Fatalf("known key on a cut-off node: %d", res.StatusCode)
	}
}

// TestNotCaughtUpIs503: until the node has caught up since it started,
// even a key it knows is answered 503 (it may have been revoked in what
// the node has not applied yet), and a key it does not know is not 401.
func TestNotCaughtUpIs503(t *testing.T) {
	e := newEnv(t)
	var ready atomic.Bool
	e.gw = startGateway(t, e, gateway.Deps{Barrier: &lateBarrier{}, Freshness: freshness{ready: ready.Load}})
	known, _ := e.addKey(nil)
	for _, key := range []string{known, "gk_not_yet_applied_here_0123456789"} {
		res := e.post("/v1/chat/completions", key, `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`)
		if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("before catching up: %d (retry-after %q), want 503", res.StatusCode, res.Header.Get("Retry-After"))
		}
	}
	ready.Store(true)
	if res := e.post("/v1/chat/completions", known, `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`); res.StatusCode != 200 {
		t.Fatalf("after catching up: %d", res.StatusCode)
	}
}

// freshness is a node's word on how current it is.
type freshness struct {
	ready func() bool
	// contact is how long since it heard from a leader.
	contact func() time.Duration
}

func (f freshness) Ready() bool { return f.ready == nil || f.ready() }

func (f freshness) LastContact() time.Duration {
	if f.contact == nil {
		return 0
	}
	return f.contact()
}

// TestCutOffLongerThanMaxStaleIs503: a node cut off from the leader keeps
// serving the keys it knows, until it has been cut off longer than
// MaxStale: then every call is 503 with Retry-After, so a key revoked
// elsewhere stops working there within that bound; back in contact, it
// serves again. MaxStale 0 serves for as long as the partition lasts.
func TestCutOffLongerThanMaxStaleIs503(t *testing.T) {
	e := newEnv(t)
	var cut atomic.Int64
	fresh := freshness{contact: func() time.Duration { return time.Duration(cut.Load()) }}
	d := gateway.Deps{Barrier: failingBarrier{}, Freshness: fresh, State: e.f, Unsealer: e.sealer, Recorder: e.rec, Registry: prometheus.NewRegistry()}
	cfg := gateway.DefaultConfig()
	cfg.MaxStale = time.Minute
	gw, err := gateway.New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	e.gw = srv
	known, _ := e.addKey(nil)
	cut.Store(int64(59 * time.Second))
	if code := postStatus(srv.URL, known); code != 200 {
		t.Fatalf("cut off for 59s of a 1m bound: %d, want 200", code)
	}
	cut.Store(int64(61 * time.Second))
	res := e.post("/v1/chat/completions", known, `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "--max-stale") {
		t.Fatalf("cut off for 61s of a 1m bound: %d %s (Retry-After %q), want 503", res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	cut.Store(0)
	if code := postStatus(srv.URL, known); code != 200 {
		t.Fatalf("back in contact: %d", code)
	}
	cfg.MaxStale = 0
	unbounded, err := gateway.New(cfg, gateway.Deps{Barrier: failingBarrier{}, Freshness: fresh, State: e.f, Unsealer: e.sealer, Recorder: e.rec, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(unbounded.Handler())
	t.Cleanup(srv2.Close)
	cut.Store(int64(time.Hour))
	if code := postStatus(srv2.URL, known); code != 200 {
		t.Fatalf("no bound, cut off for an hour: %d, want 200", code)
	}
}

type failingBarrier struct{}

func (failingBarrier) Barrier(context.Context) error { return errors.New("no quorum") }

// gatedBarrier applies what was pending when a catch-up started, once
// released.
type gatedBarrier struct {
	mu      sync.Mutex
	pending []func()
	started chan struct{}
	release chan struct{}
}

func (g *gatedBarrier) Barrier(context.Context) error {
	g.mu.Lock()
	todo := g.pending
	g.pending = nil
	g.mu.Unlock()
	g.started <- struct{}{}
	<-g.release
	for _, f := range todo {
		f()
	}
	return nil
}

// lateKey returns a key's secret and a function that creates it, as the
// leader would apply it.
func lateKey(e *env, id string) (string, func()) {
	secretKey := "gk_created_on_another_node_" + id + "_0123456789"
	sum := sha256.Sum256([]byte(secretKey))
	return secretKey, func() {
		e.apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: id, OrgID: "org1", Name: id,
			Prefix: secretKey[:10], Hash: hex.EncodeToString(sum[:]), Scopes: fsm.Capabilities}})
	}
}

func startGateway(t *testing.T, e *env, d gateway.Deps) *httptest.Server {
	t.Helper()
	_, srv := startGatewayServer(t, e, d)
	return srv
}

// startGatewayServer is startGateway that also returns the gateway.
func startGatewayServer(t *testing.T, e *env, d gateway.Deps) (*gateway.Server, *httptest.Server) {
	t.Helper()
	d.State, d.Unsealer, d.Recorder, d.Registry = e.f, e.sealer, e.rec, prometheus.NewRegistry()
	gw, err := gateway.New(gateway.DefaultConfig(), d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return gw, srv
}

func postStatus(base, key string) int {
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}
