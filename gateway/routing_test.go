package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/mockupstream"
	"github.com/tensorgate/tensorgate/gateway/quota"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// upstreams adds n OpenAI-format mock providers, up0..up<n-1>, each
// listing model, and returns their mocks.
func (e *env) upstreams(n int, model string) []*mockupstream.Server {
	e.t.Helper()
	var mocks []*mockupstream.Server
	for i := range n {
		m := mockupstream.New(mockupstream.Behavior{})
		srv := httptest.NewServer(m)
		e.t.Cleanup(srv.Close)
		slug := fmt.Sprintf("up%d", i)
		e.apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Create: true, Provider: fsm.Provider{
			Slug: slug, Name: slug, Format: fsm.FormatOpenAI, BaseURL: srv.URL, APIPath: "/v1/chat/completions",
			APIKeyCipher: e.sealer.Seal(secret.ProviderPurpose(slug), []byte(openaiKey)),
			Models:       []string{model}, Capabilities: []string{"llm"}, Enabled: true,
		}})
		mocks = append(mocks, m)
	}
	return mocks
}

func (e *env) route(model, strategy string, targets ...fsm.Target) {
	e.t.Helper()
	e.apply(fsm.TypeRouteUpsert, fsm.RouteUpsertBody{Route: fsm.Route{Model: model, Strategy: strategy, Targets: targets}})
}

// chatOnce sends a chat completion and returns the status and the
// provider that served it.
func (e *env) chatOnce(model string, stream bool) (int, string, string) {
	e.t.Helper()
	res := e.post("/v1/chat/completions", e.key, fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, model, stream))
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, res.Header.Get("X-Tensorgate-Provider"), string(body)
}

func TestBreakerSkipsAFailingPrimaryUntilItRecovers(t *testing.T) {
	e := newEnv(t)
	ups := e.upstreams(2, "m")
	ups[0].Set(mockupstream.Behavior{FailStatus: 500})
	e.route("m", fsm.StrategyPriority, fsm.Target{Provider: "up0", Model: "m"}, fsm.Target{Provider: "up1", Model: "m"})
	e.apply(fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: fsm.Policy{OrgID: "org1", Breaker: fsm.Breaker{CooldownSeconds: 1}}})
	// The cooldown runs on the gateway's clock, which the test steps: 100
	// requests on a loaded machine can take longer than a second.
	e.clock.stop()
	for i := range 100 {
		if code, prov, body := e.chatOnce("m", false); code != 200 || prov != "up1" {
			t.Fatalf("request %d: %d from %q: %s", i, code, prov, body)
		}
	}
	// Five consecutive failures open the breaker; after that, no call.
	if n := ups[0].Requests(); n != 5 {
		t.Fatalf("the failing primary got %d calls in 100 requests, want 5 (then none)", n)
	}
	ev := lastEvent(t, e)
	if len(ev.Attempts) != 2 || ev.Attempts[0].Result != "breaker_open" || ev.Attempts[1].Result != "ok" {
		t.Fatalf("failover chain with an open breaker: %+v", ev.Attempts)
	}
	// After the cooldown one probe goes to the primary; it still fails,
	// so the breaker opens again and the request is served by up1.
	e.clock.advance(1100 * time.Millisecond)
	if code, prov, _ := e.chatOnce("m", false); code != 200 || prov != "up1" || ups[0].Requests() != 6 {
		t.Fatalf("probe: %d %s, primary calls %d", code, prov, ups[0].Requests())
	}
	// Recovered: the next probe passes and traffic returns.
	ups[0].Set(mockupstream.Behavior{})
	e.clock.advance(1100 * time.Millisecond)
	for range 3 {
		if code, prov, _ := e.chatOnce("m", false); code != 200 || prov != "up0" {
			t.Fatalf("after recovery: %d from %s", code, prov)
		}
	}
	// Every target open: 502 with a Retry-After, no upstream call.
	ups[0].Set(mockupstream.Behavior{FailStatus: 503})
	ups[1].Set(mockupstream.Behavior{FailStatus: 503})
	for range 5 {
		e.chatOnce("m", false)
	}
	before := ups[0].Requests() + ups[1].Requests()
	res := e.post("/v1/chat/completions", e.key, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 502 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "upstream_error") ||
		ups[0].Requests()+ups[1].Requests() != before {
		t.Fatalf("all open: %d %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
}

func TestUpstreamRetryAfterOpensTheBreakerForThatLong(t *testing.T) {
	e := newEnv(t)
	ups := e.upstreams(2, "m")
	ups[0].Set(mockupstream.Behavior{FailStatus: 429, RetryAfter: 30, FailCount: 1})
	e.route("m", fsm.StrategyPriority, fsm.Target{Provider: "up0", Model: "m"}, fsm.Target{Provider: "up1", Model: "m"})
	for range 10 {
		if code, prov, _ := e.chatOnce("m", false); code != 200 || prov != "up1" {
			t.Fatalf("%d from %s", code, prov)
		}
	}
	if n := ups[0].Requests(); n != 1 {
		t.Fatalf("a target that asked for 30 s of quiet got %d calls", n)
	}
}

func TestStreamFailsOverBeforeTheFirstByte(t *testing.T) {
	e := newEnv(t)
	ups := e.upstreams(2, "m")
	ups[0].Set(mockupstream.Behavior{FailStatus: 502})
	e.route("m", fsm.StrategyPriority, fsm.Target{Provider: "up0", Model: "m"}, fsm.Target{Provider: "up1", Model: "m"})
	code, prov, body := e.chatOnce("m", true)
	if code != 200 || prov != "up1" || !strings.Contains(body, "[DONE]") {
		t.Fatalf("%d from %s: %s", code, prov, body)
	}
	// Broken midway: one error event, no [DONE], no second attempt.
	ups[0].Set(mockupstream.Behavior{BreakAfter: 1, Chunks: 5})
	before := ups[1].Requests()
	res := e.post("/v1/chat/completions", e.key, `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	sc := bufio.NewScanner(res.Body)
	var errs, done int
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"error"`) {
			errs++
		}
		if strings.Contains(sc.Text(), "[DONE]") {
			done++
		}
	}
	res.Body.Close()
	if errs != 1 || done != 0 || ups[1].Requests() != before {
		t.Fatalf("mid-stream break: %d error events, %d [DONE], second target called %d times", errs, done, ups[1].Requests()-before)
	}
}

func TestWeightedSplitsThreeToOne(t *testing.T) {
	e := newEnv(t)
	ups := e.upstreams(2, "m")
	e.route("m", fsm.StrategyWeighted, fsm.Target{Provider: "up0", Model: "m", Weight: 3}, fsm.Target{Provider: "up1", Model: "m", Weight: 1})
	for range 400 {
		if code, _, body := e.chatOnce("m", false); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	a, b := ups[0].Requests(), ups[1].Requests()
	if a < 270 || a > 330 || a+b != 400 {
		t.Fatalf("3:1 over 400 requests: %d and %d", a, b)
	}
}

func TestLeastLatencyFollowsTheFastestTarget(t *testing.T) {
	e := newEnv(t)
	ups := e.upstreams(2, "m")
	ups[0].Set(mockupstream.Behavior{Latency: 2 * time.Millisecond})
	ups[1].Set(mockupstream.Behavior{Latency: 30 * time.Millisecond})
	e.route("m", fsm.StrategyLeastLatency, fsm.Target{Provider: "up0", Model: "m"}, fsm.Target{Provider: "up1", Model: "m"})
	phase := func(n int) (fast, slow int64) {
		a0, b0 := ups[0].Requests(), ups[1].Requests()
		for range n {
			if code, _, body := e.chatOnce("m", false); code != 200 {
				t.Fatalf("%d %s", code, body)
			}
		}
		return ups[0].Requests() - a0, ups[1].Requests() - b0
	}
	if a, b := phase(100); a < 85 {
		t.Fatalf("up0 is faster, yet got %d of 100 (up1 %d)", a, b)
	}
	// up0 slows down: traffic moves to up1.
	ups[0].Set(mockupstream.Behavior{Latency: 90 * time.Millisecond})
	phase(20)
	if a, b := phase(60); b < 50 {
		t.Fatalf("after up0 slowed, up1 got %d of 60 (up0 %d)", b, a)
	}
	// up0 recovers: exploration notices, traffic comes back.
	ups[0].Set(mockupstream.Behavior{Latency: 2 * time.Millisecond})
	phase(150)
	if a, b := phase(100); a < 85 {
		t.Fatalf("after up0 recovered, it got %d of 100 (up1 %d)", a, b)
	}
}

func TestOwnKeyIsUsedAndMarked(t *testing.T) {
	e := newEnv(t)
	ups := e.upstreams(1, "m")
	ups[0].Set(mockupstream.Behavior{Record: true})
	if code, _, body := e.chatOnce("m", false); code != 200 || lastEvent(t, e).OwnKey {
		t.Fatalf("system key: %d %s", code, body)
	}
	if got := ups[0].LastRequest().Header.Get("Authorization"); got != "Bearer "+openaiKey {
		t.Fatalf("system key call sent %q", got)
	}
	e.apply(fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: fsm.Policy{OrgID: "org1",
		OwnKeys: map[string][]byte{"up0": e.sealer.Seal(secret.OrgKeyPurpose("org1", "up0"), []byte("sk-org-own"))}}})
	if code, _, body := e.chatOnce("m", false); code != 200 || !lastEvent(t, e).OwnKey {
		t.Fatalf("own key: %d %s %+v", code, body, lastEvent(t, e))
	}
	if got := ups[0].LastRequest().Header.Get("Authorization"); got != "Bearer sk-org-own" {
		t.Fatalf("own key call sent %q", got)
	}
}

// withLimiter replaces the env's gateway with one that has a quota
// manager (needed for allocations).
func (e *env) withLimiter() {
	e.t.Helper()
	m := quota.New(quota.Config{Node: "test-node"}, commitFunc(e.b.Commit))
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	go m.Run(ctx)
	gw, err := gateway.New(gateway.DefaultConfig(), gateway.Deps{State: e.f, Unsealer: e.sealer, Recorder: e.rec, Limiter: m, Registry: prometheus.NewRegistry()})
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	e.t.Cleanup(srv.Close)
	e.gw = srv
}

func TestOrgSharesSplitTraffic(t *testing.T) {
	e := newEnv(t)
	ups := e.upstreams(2, "m")
	e.apply(fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: fsm.Policy{OrgID: "org1",
		Allocation: map[string]fsm.Allocation{"up0": {SharePercent: 80}, "up1": {SharePercent: 20}}}})
	for range 100 {
		if code, _, body := e.chatOnce("m", false); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	if a, b := ups[0].Requests(), ups[1].Requests(); a != 80 || b != 20 {
		t.Fatalf("shares 80/20 over 100 requests: %d and %d", a, b)
	}
}

func TestAllocationCapSpillsOrRefuses(t *testing.T) {
	e := newEnv(t)
	e.withLimiter()
	ups := e.upstreams(2, "m")
	ups[0].Set(mockupstream.Behavior{Latency: 300 * time.Millisecond})
	policy := fsm.Policy{OrgID: "org1", AllowedProviders: []string{"up0"},
		Allocation: map[string]fsm.Allocation{"up0": {Concurrency: 2}}, Overflow: fsm.Overflow{Mode: fsm.OverflowSpill, Pool: "up1"}}
	e.apply(fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: policy})
	burst := func() map[string]int {
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, prov, _ := e.chatOnce("m", false)
				mu.Lock()
				got[fmt.Sprintf("%d %s", code, prov)]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return got
	}
	got := burst()
	if ups[0].PeakInFlight() > 2 || got["200 up0"] < 1 || got["200 up0"]+got["200 up1"] != 6 {
		t.Fatalf("spill: %v, up0 peak %d", got, ups[0].PeakInFlight())
	}
	// Refuse instead: the requests beyond the allocation get 429.
	policy.Overflow = fsm.Overflow{Mode: fsm.OverflowRefuse}
	cur := e.b.View().Policies["org1"]
	policy.Version = cur.Version
	e.apply(fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: policy})
	got = burst()
	if ups[0].PeakInFlight() > 2 || got["200 up0"] < 1 || got["429 "] < 1 || got["200 up0"]+got["429 "] != 6 {
		t.Fatalf("refuse: %v, up0 peak %d", got, ups[0].PeakInFlight())
	}
}
