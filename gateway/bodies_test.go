package gateway_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/storage/event"
)

func lastEvent(t *testing.T, e *env) event.Event {
	t.Helper()
	evs := e.rec.all()
	if len(evs) == 0 {
		t.Fatal("no event recorded")
	}
	return evs[len(evs)-1]
}

func TestEventBodiesAreRedactedAndKept(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.RedactFields = []string{"employee_id"} })
	secretKey := "gk_" + strings.Repeat("Q", 40)
	req := `{"model":"gpt-mock","user":"u1","employee_id":"E-1234","messages":[{"role":"user","content":"my key is ` + secretKey + `"}]}`
	res := e.post("/v1/chat/completions", e.key, req)
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, answer)
	}
	ev := lastEvent(t, e)
	if strings.Contains(ev.RequestBody, "QQQQ") || strings.Contains(ev.RequestBody, "E-1234") {
		t.Fatalf("secret stored: %s", ev.RequestBody)
	}
	if !strings.Contains(ev.RequestBody, `"employee_id":"[REDACTED]"`) || !strings.Contains(ev.RequestBody, `"user":"u1"`) {
		t.Fatalf("request body %s", ev.RequestBody)
	}
	if ev.RequestBytes != int64(len(req)) || ev.RequestTruncated {
		t.Fatalf("request size %d truncated %v", ev.RequestBytes, ev.RequestTruncated)
	}
	if ev.ResponseBody != string(answer) || ev.ResponseBytes != int64(len(answer)) || ev.ResponseTruncated {
		t.Fatalf("response body %q (%d bytes, cut %v), client saw %q", ev.ResponseBody, ev.ResponseBytes, ev.ResponseTruncated, answer)
	}
}

func TestStreamEventKeepsTheAssembledText(t *testing.T) {
	e := newEnv(t)
	res := e.post("/v1/chat/completions", e.key, `{"model":"gpt-mock","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	var text strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ch struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			t.Fatal(err)
		}
		for _, c := range ch.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	if text.Len() == 0 {
		t.Fatal("the stream had no text")
	}
	ev := lastEvent(t, e)
	if ev.ResponseBody != text.String() || ev.ResponseBytes != int64(text.Len()) {
		t.Fatalf("stored %q, client saw %q", ev.ResponseBody, text.String())
	}
	// The Anthropic adapter's translated stream is assembled the same way.
	res = e.post("/v1/chat/completions", e.key, `{"model":"claude-mock","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	_, _ = io.ReadAll(res.Body)
	if ev := lastEvent(t, e); ev.Provider != "mock-claude" || ev.ResponseBody == "" {
		t.Fatalf("anthropic stream event %+v", ev)
	}
}

func TestEventBodiesAreCapped(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.AuditBodyBytes = 32 })
	req := `{"model":"gpt-mock","messages":[{"role":"user","content":"` + strings.Repeat("long ", 100) + `"}]}`
	res := e.post("/v1/chat/completions", e.key, req)
	_, _ = io.ReadAll(res.Body)
	ev := lastEvent(t, e)
	if len(ev.RequestBody) != 32 || !ev.RequestTruncated || ev.RequestBytes != int64(len(req)) || ev.RequestBody != req[:32] {
		t.Fatalf("request body %q cut %v size %d", ev.RequestBody, ev.RequestTruncated, ev.RequestBytes)
	}
	if len(ev.ResponseBody) > 32 || !ev.ResponseTruncated {
		t.Fatalf("response body %q cut %v", ev.ResponseBody, ev.ResponseTruncated)
	}

	// A cap of 0 stores no bodies.
	e = newEnv(t, func(c *gateway.Config) { c.AuditBodyBytes = 0 })
	res = e.post("/v1/chat/completions", e.key, req)
	_, _ = io.ReadAll(res.Body)
	if ev := lastEvent(t, e); ev.RequestBody != "" || ev.ResponseBody != "" {
		t.Fatalf("bodies stored with cap 0: %+v", ev)
	}
}

func TestErrorEventKeepsTheEnvelope(t *testing.T) {
	e := newEnv(t)
	res := e.post("/v1/chat/completions", e.key, `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`)
	answer, _ := io.ReadAll(res.Body)
	ev := lastEvent(t, e)
	var got, want map[string]any
	_ = json.Unmarshal([]byte(ev.ResponseBody), &got)
	_ = json.Unmarshal(answer, &want)
	if got["error"] == nil || got["error"].(map[string]any)["code"] != want["error"].(map[string]any)["code"] {
		t.Fatalf("stored %s, client saw %s", ev.ResponseBody, answer)
	}
}

func TestOutboxFullPolicies(t *testing.T) {
	chat := `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`
	// Default: keep serving, drop the bodies.
	e := newEnv(t)
	e.rec.full.Store(true)
	res := e.post("/v1/chat/completions", e.key, chat)
	_, _ = io.ReadAll(res.Body)
	ev := lastEvent(t, e)
	if res.StatusCode != 200 || !ev.BodiesDropped || ev.RequestBody != "" || ev.ResponseBody != "" || ev.Usage.PromptTokens == 0 {
		t.Fatalf("drop-bodies: status %d event %+v", res.StatusCode, ev)
	}

	// reject: refuse with 503 and Retry-After until there is room again.
	e = newEnv(t, func(c *gateway.Config) { c.OutboxFullPolicy = gateway.OutboxReject })
	e.rec.full.Store(true)
	res = e.post("/v1/chat/completions", e.key, chat)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"service_unavailable"`) {
		t.Fatalf("reject: %d %s", res.StatusCode, body)
	}
	if e.oa.Requests() != 0 {
		t.Fatal("a refused request reached the upstream")
	}
	e.rec.full.Store(false)
	res = e.post("/v1/chat/completions", e.key, chat)
	_, _ = io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("after the backlog drained: %d", res.StatusCode)
	}
}
