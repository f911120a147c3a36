package gateway_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/mockupstream"
)

func TestEveryAuthenticatedRequestIsRecorded(t *testing.T) {
	e := newEnv(t)
	e.apply(fsm.TypePriceUpsert, fsm.PriceUpsertBody{Price: fsm.Price{Model: "gpt-mock", Currency: "CNY",
		Rates: map[string]int64{fsm.UnitPromptToken: 1_000_000 * 1_000_000, fsm.UnitCompletionToken: 2_000_000 * 1_000_000}}})
	imageOnly, _ := e.addKey(func(k *fsm.Key) { k.Scopes = []string{"image"} })
	chat := `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`

	type want struct {
		status   int
		code     string
		provider string
	}
	cases := []struct {
		name, key, body string
		want            want
	}{
		{"ok", e.key, chat, want{200, "", "mock-openai"}},
		{"stream", e.key, `{"model":"gpt-mock","stream":true,"messages":[{"role":"user","content":"hi"}]}`, want{200, "", "mock-openai"}},
		{"unknown model", e.key, `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, want{404, "model_not_found", ""}},
		{"scope", imageOnly, chat, want{403, "permission_denied", ""}},
		{"bad body", e.key, `{"model":"gpt-mock"}`, want{400, "invalid_request_error", ""}},
		{"no key: not recorded", "gk_unknown", chat, want{}},
	}
	for _, tc := range cases {
		before := len(e.rec.all())
		res := e.post("/v1/chat/completions", tc.key, tc.body)
		_, _ = io.ReadAll(res.Body)
		rid := res.Header.Get("X-Request-Id")
		evs := e.rec.all()[before:]
		if tc.want.status == 0 {
			if len(evs) != 0 {
				t.Fatalf("%s: %d events for an unauthenticated request", tc.name, len(evs))
			}
			continue
		}
		if len(evs) != 1 {
			t.Fatalf("%s: %d events, want 1", tc.name, len(evs))
		}
		ev := evs[0]
		if ev.RequestID != rid || ev.Status != tc.want.status || ev.ErrorCode != tc.want.code || ev.Provider != tc.want.provider {
			t.Fatalf("%s: event %+v", tc.name, ev)
		}
		if ev.Node != "test-node" || ev.OrgID != "org1" || ev.KeyID == "" || ev.Capability != "llm" {
			t.Fatalf("%s: event identity %+v", tc.name, ev)
		}
		if tc.want.status == 200 {
			u := ev.Usage
			wantCost := u.PromptTokens*1_000_000 + u.CompletionTokens*2_000_000
			if u.PromptTokens == 0 || ev.CostMicros != wantCost || ev.Currency != "CNY" || len(ev.Attempts) != 1 {
				t.Fatalf("%s: usage %+v cost %d (want %d) attempts %v", tc.name, u, ev.CostMicros, wantCost, ev.Attempts)
			}
		}
	}

	// A failover chain is recorded attempt by attempt.
	e.apply(fsm.TypeRouteUpsert, fsm.RouteUpsertBody{Route: fsm.Route{Model: "chat", Strategy: fsm.StrategyPriority, Targets: []fsm.Target{
		{Provider: "mock-openai", Model: "gpt-mock"}, {Provider: "mock-claude", Model: "claude-mock"}}}})
	e.oa.Set(mockupstream.Behavior{FailStatus: 503})
	before := len(e.rec.all())
	res := e.post("/v1/chat/completions", e.key, `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	_, _ = io.ReadAll(res.Body)
	ev := e.rec.all()[before]
	if len(ev.Attempts) != 2 || ev.Attempts[0].Provider != "mock-openai" || ev.Attempts[0].Status != 503 ||
		ev.Attempts[1].Result != "ok" || ev.Provider != "mock-claude" || ev.UpstreamModel != "claude-mock" {
		t.Fatalf("failover chain %+v", ev)
	}
}

// TestEventDurableBeforeLastByte holds the recorder and checks that the
// client cannot see a complete answer until the event is stored.
func TestEventDurableBeforeLastByte(t *testing.T) {
	e := newEnv(t)
	for _, stream := range []bool{false, true} {
		hold := make(chan struct{})
		release := sync.OnceFunc(func() { close(hold) })
		defer release() // on failure too, so the server can shut down
		e.rec.mu.Lock()
		e.rec.hold = hold
		e.rec.mu.Unlock()
		body := `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`
		if stream {
			body = `{"model":"gpt-mock","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		}
		req, _ := http.NewRequest("POST", e.gw.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.key)
		got := make(chan string, 1)
		if !stream {
			// A JSON answer is buffered: nothing, not even headers, goes
			// out before the record is stored.
			go func() {
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					got <- err.Error()
					return
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				got <- string(b)
			}()
		} else {
			// Stream events flow while the record is pending; only the
			// closing [DONE] waits for it.
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			line, _ := br.ReadString('\n')
			if !strings.HasPrefix(line, "data: ") {
				t.Fatalf("first stream line %q", line)
			}
			go func() {
				// Report as soon as [DONE] arrives, not at the end of
				// the body, which waits for the handler anyway.
				seen := line
				for {
					l, err := br.ReadString('\n')
					seen += l
					if strings.Contains(l, "[DONE]") || err != nil {
						got <- seen
						return
					}
				}
			}()
		}
		select {
		case b := <-got:
			t.Fatalf("stream=%v: the client saw the whole answer before its event was stored: %q", stream, b)
		case <-time.After(300 * time.Millisecond):
		}
		release()
		select {
		case b := <-got:
			if stream && !strings.Contains(b, "[DONE]") || !stream && !strings.HasSuffix(strings.TrimSpace(b), "}") {
				t.Fatalf("stream=%v: incomplete answer %q", stream, b)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("stream=%v: the answer never completed", stream)
		}
		e.rec.mu.Lock()
		e.rec.hold = nil
		e.rec.mu.Unlock()
	}
}
