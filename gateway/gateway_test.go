package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/mockupstream"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func chatParams(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model: model,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are terse."),
			openai.UserMessage("Say hello."),
		},
	}
}

func TestChatJSONWithSDK(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	for _, model := range []string{"gpt-mock", "claude-mock"} {
		t.Run(model, func(t *testing.T) {
			var raw *http.Response
			res, err := c.Chat.Completions.New(context.Background(), chatParams(model), option.WithResponseInto(&raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Choices[0].Message.Content; got != "Hello from the mock upstream." {
				t.Fatalf("content %q", got)
			}
			if res.Choices[0].FinishReason != "stop" || res.Usage.PromptTokens == 0 || res.Usage.CompletionTokens == 0 {
				t.Fatalf("finish %q usage %+v", res.Choices[0].FinishReason, res.Usage)
			}
			if raw.Header.Get("X-Request-Id") == "" || raw.Header.Get("X-Tensorgate-Provider") == "" {
				t.Fatalf("headers %v", raw.Header)
			}
		})
	}
	// The client's gk_ key never reaches an upstream; the provider's key does.
	oaReq, anReq := e.oa.LastRequest(), e.an.LastRequest()
	if got := oaReq.Header.Get("Authorization"); got != "Bearer "+openaiKey {
		t.Fatalf("openai upstream Authorization %q", got)
	}
	if got := anReq.Header.Get("X-Api-Key"); got != anthropicKey || anReq.Header.Get("Authorization") != "" {
		t.Fatalf("anthropic upstream x-api-key %q authorization %q", got, anReq.Header.Get("Authorization"))
	}
	for _, r := range []mockupstream.Recorded{oaReq, anReq} {
		for name, vals := range r.Header {
			for _, v := range vals {
				if strings.Contains(v, e.key) {
					t.Fatalf("client key forwarded upstream in %s", name)
				}
			}
		}
		if strings.Contains(string(r.Body), e.key) {
			t.Fatal("client key forwarded upstream in the body")
		}
	}
	// Anthropic requests get system, max_tokens and the upstream model.
	var sent map[string]any
	_ = json.Unmarshal(anReq.Body, &sent)
	if sent["system"] != "You are terse." || sent["max_tokens"] != float64(4096) || sent["model"] != "claude-mock" {
		t.Fatalf("anthropic request %s", anReq.Body)
	}
}

// streamChat runs a streaming chat through the SDK and returns the text,
// the chunks that carried usage and the accumulated completion.
func streamChat(t *testing.T, c openai.Client, params openai.ChatCompletionNewParams) (string, []openai.ChatCompletionChunk, openai.ChatCompletionAccumulator, error) {
	t.Helper()
	stream := c.Chat.Completions.NewStreaming(context.Background(), params)
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	var text strings.Builder
	var usageChunks []openai.ChatCompletionChunk
	for stream.Next() {
		ch := stream.Current()
		acc.AddChunk(ch)
		if len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
		if ch.JSON.Usage.Valid() && ch.Usage.TotalTokens > 0 {
			usageChunks = append(usageChunks, ch)
		}
	}
	return text.String(), usageChunks, acc, stream.Err()
}

func TestChatStreamWithSDK(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	for _, model := range []string{"gpt-mock", "claude-mock"} {
		for _, withUsage := range []bool{false, true} {
			name := model + map[bool]string{false: "/no-usage", true: "/include-usage"}[withUsage]
			t.Run(name, func(t *testing.T) {
				p := chatParams(model)
				if withUsage {
					p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				}
				text, usage, acc, err := streamChat(t, c, p)
				if err != nil {
					t.Fatal(err)
				}
				if text != "Hello from the mock upstream." {
					t.Fatalf("text %q", text)
				}
				if withUsage != (len(usage) == 1) {
					t.Fatalf("include_usage=%v but %d usage chunks", withUsage, len(usage))
				}
				if withUsage && usage[0].Usage.PromptTokens == 0 {
					t.Fatalf("usage %+v", usage[0].Usage)
				}
				if len(acc.Choices) == 0 || acc.Choices[0].FinishReason != "stop" {
					t.Fatalf("accumulated %+v", acc.Choices)
				}
			})
		}
	}
	// The gateway always asks an openai-format upstream for usage.
	var sent map[string]any
	_ = json.Unmarshal(e.oa.LastRequest().Body, &sent)
	if so, _ := sent["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Fatalf("upstream request %s", e.oa.LastRequest().Body)
	}
}

func TestCompletionsEmbeddingsModels(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	ctx := context.Background()
	comp, err := c.Completions.New(ctx, openai.CompletionNewParams{
		Model: "gpt-mock", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon")},
	})
	if err != nil || comp.Choices[0].Text == "" {
		t.Fatalf("completion: %v", err)
	}
	emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "gpt-mock", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
	})
	if err != nil || len(emb.Data) != 2 || emb.Usage.PromptTokens == 0 {
		t.Fatalf("embeddings: %v %+v", err, emb)
	}
	// Anthropic-format providers don't serve embeddings: the model is
	// unknown there.
	_, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "claude-mock", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("a")},
	})
	if apiCode(err) != "model_not_found" {
		t.Fatalf("embeddings on anthropic: %v", err)
	}
	// shared-model resolves to the openai provider, the one that can embed.
	if _, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "shared-model", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("a")},
	}); err != nil {
		t.Fatalf("embeddings on shared model: %v", err)
	}
	mc := e.client(e.key)
	page, err := mc.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if got := strings.Join(ids, ","); got != "gpt-mock,shared-model,claude-mock" {
		t.Fatalf("models %s", got)
	}
	restricted, _ := e.addKey(func(k *fsm.Key) { k.Models = []string{"claude-mock"} })
	rc := e.client(restricted)
	page, err = rc.Models.List(ctx)
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != "claude-mock" {
		t.Fatalf("restricted models: %v %+v", err, page)
	}
}

// apiCode returns the OpenAI error code of an SDK error.
func apiCode(err error) string {
	var ae *openai.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

func apiStatus(err error) int {
	var ae *openai.Error
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

func TestAuthAndValidationErrors(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxBodyBytes = 4096 })
	llmOnly, _ := e.addKey(func(k *fsm.Key) { k.Scopes = []string{"image"} })
	embedOnly, _ := e.addKey(func(k *fsm.Key) { k.Scopes = []string{"/v1/embeddings"} })
	modelLimited, _ := e.addKey(func(k *fsm.Key) { k.Models = []string{"gpt-mock"} })
	expired, _ := e.addKey(func(k *fsm.Key) { past := time.Now().Add(-time.Minute); k.ExpiresAt = &past })
	disabled, _ := e.addKey(func(k *fsm.Key) { k.Disabled = true })
	chat := `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name, path, key, body string
		status                int
		code, param           string
	}{
		{"no key", "/v1/chat/completions", "", chat, 401, "invalid_api_key", ""},
		{"unknown key", "/v1/chat/completions", "gk_nope", chat, 401, "invalid_api_key", ""},
		{"not a gk key", "/v1/chat/completions", "sk-123", chat, 401, "invalid_api_key", ""},
		{"expired", "/v1/chat/completions", expired, chat, 401, "invalid_api_key", ""},
		{"disabled", "/v1/chat/completions", disabled, chat, 401, "invalid_api_key", ""},
		{"scope", "/v1/chat/completions", llmOnly, chat, 403, "permission_denied", ""},
		{"path scope allows", "/v1/embeddings", embedOnly, `{"model":"gpt-mock","input":"x"}`, 200, "", ""},
		{"path scope denies", "/v1/chat/completions", embedOnly, chat, 403, "permission_denied", ""},
		{"model allow-list", "/v1/chat/completions", modelLimited, `{"model":"claude-mock","messages":[{"role":"user","content":"hi"}]}`, 403, "permission_denied", ""},
		{"unknown model", "/v1/chat/completions", e.key, `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, 404, "model_not_found", ""},
		{"not json", "/v1/chat/completions", e.key, `model=x`, 400, "invalid_request_error", ""},
		{"no model", "/v1/chat/completions", e.key, `{"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "model"},
		{"no messages", "/v1/chat/completions", e.key, `{"model":"gpt-mock"}`, 400, "invalid_request_error", "messages"},
		{"empty messages", "/v1/chat/completions", e.key, `{"model":"gpt-mock","messages":[]}`, 400, "invalid_request_error", "messages"},
		{"bad role", "/v1/chat/completions", e.key, `{"model":"gpt-mock","messages":[{"role":"robot","content":"hi"}]}`, 400, "invalid_request_error", "messages[0].role"},
		{"wrong type", "/v1/chat/completions", e.key, `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}],"stream":"yes"}`, 400, "invalid_request_error", "stream"},
		{"bad max_tokens", "/v1/chat/completions", e.key, `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, 400, "invalid_request_error", "max_tokens"},
		{"no prompt", "/v1/completions", e.key, `{"model":"gpt-mock"}`, 400, "invalid_request_error", "prompt"},
		{"no input", "/v1/embeddings", e.key, `{"model":"gpt-mock"}`, 400, "invalid_request_error", "input"},
		{"too large", "/v1/chat/completions", e.key, `{"model":"gpt-mock","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`, 413, "request_too_large", ""},
		{"unknown path", "/v1/nope", e.key, `{}`, 404, "not_found", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.post(tc.path, tc.key, tc.body)
			if res.StatusCode != tc.status {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, b)
			}
			if tc.code == "" {
				return
			}
			var env struct {
				Error map[string]any `json:"error"`
			}
			if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := env.Error[k]; !ok {
					t.Fatalf("envelope lacks %q: %v", k, env.Error)
				}
			}
			if env.Error["code"] != tc.code {
				t.Fatalf("code %v, want %s", env.Error["code"], tc.code)
			}
			if tc.param != "" && env.Error["param"] != tc.param {
				t.Fatalf("param %v, want %s", env.Error["param"], tc.param)
			}
		})
	}
}

func TestRevocationTakesEffectOnNextRequest(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	if _, err := c.Chat.Completions.New(context.Background(), chatParams("gpt-mock")); err != nil {
		t.Fatal(err)
	}
	e.apply(fsm.TypeKeyDelete, fsm.DeleteBody{ID: e.keyID})
	_, err := c.Chat.Completions.New(context.Background(), chatParams("gpt-mock"))
	if apiStatus(err) != 401 || apiCode(err) != "invalid_api_key" {
		t.Fatalf("after revoke: %v", err)
	}
}

func TestFailoverAndUpstreamErrors(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.ResponseTimeout = 300 * time.Millisecond
		c.FirstByteTimeout = 300 * time.Millisecond
	})
	e.apply(fsm.TypeRouteUpsert, fsm.RouteUpsertBody{Route: fsm.Route{Model: "chat", Strategy: fsm.StrategyPriority, Targets: []fsm.Target{
		{Provider: "mock-openai", Model: "gpt-mock"}, {Provider: "mock-claude", Model: "claude-mock"},
	}}})
	c := e.client(e.key)
	ctx := context.Background()

	// A failing primary is skipped for the healthy secondary.
	e.oa.Set(mockupstream.Behavior{FailStatus: 500})
	var raw *http.Response
	res, err := c.Chat.Completions.New(ctx, chatParams("chat"), option.WithResponseInto(&raw))
	if err != nil || res.Choices[0].Message.Content == "" {
		t.Fatalf("failover: %v", err)
	}
	if raw.Header.Get("X-Tensorgate-Provider") != "mock-claude" {
		t.Fatalf("served by %q", raw.Header.Get("X-Tensorgate-Provider"))
	}
	// Streams fail over too, before their first byte.
	text, _, _, err := streamChat(t, c, chatParams("chat"))
	if err != nil || text == "" {
		t.Fatalf("stream failover: %q %v", text, err)
	}

	// Every target failing: 502 upstream_error, with the upstream's
	// Retry-After.
	e.an.Set(mockupstream.Behavior{FailStatus: 429, RetryAfter: 7})
	_, err = c.Chat.Completions.New(ctx, chatParams("chat"), option.WithResponseInto(&raw))
	if apiStatus(err) != 502 || apiCode(err) != "upstream_error" || raw.Header.Get("Retry-After") != "7" {
		t.Fatalf("all failing: %v (retry-after %q)", err, raw.Header.Get("Retry-After"))
	}

	// The client's own fault is passed through, never retried elsewhere.
	e.oa.Set(mockupstream.Behavior{FailStatus: 400})
	e.an.Set(mockupstream.Behavior{})
	before := e.an.Requests()
	_, err = c.Chat.Completions.New(ctx, chatParams("chat"))
	if apiStatus(err) != 400 || e.an.Requests() != before {
		t.Fatalf("client error: %v, secondary called %d times", err, e.an.Requests()-before)
	}

	// A slow upstream times out: 504.
	e.oa.Set(mockupstream.Behavior{Latency: 2 * time.Second})
	_, err = c.Chat.Completions.New(ctx, chatParams("gpt-mock"))
	if apiStatus(err) != 504 || apiCode(err) != "upstream_timeout" {
		t.Fatalf("timeout: %v", err)
	}
	// An upstream that is down: 502.
	e.apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Create: true, Provider: fsm.Provider{
		Slug: "down", Name: "Down", Format: fsm.FormatOpenAI, BaseURL: "http://127.0.0.1:1", APIPath: "/v1/chat/completions",
		Models: []string{"down-model"}, Enabled: true,
	}})
	_, err = c.Chat.Completions.New(ctx, chatParams("down-model"))
	if apiStatus(err) != 502 {
		t.Fatalf("unreachable upstream: %v", err)
	}
}

func TestMidStreamBreakEndsWithErrorEvent(t *testing.T) {
	e := newEnv(t)
	e.apply(fsm.TypeRouteUpsert, fsm.RouteUpsertBody{Route: fsm.Route{Model: "chat", Strategy: fsm.StrategyPriority, Targets: []fsm.Target{
		{Provider: "mock-openai", Model: "gpt-mock"}, {Provider: "mock-claude", Model: "claude-mock"},
	}}})
	for _, tc := range []struct {
		name  string
		model string
		mock  *mockupstream.Server
	}{{"openai", "chat", e.oa}, {"anthropic", "claude-mock", e.an}} {
		t.Run(tc.name, func(t *testing.T) {
			tc.mock.Set(mockupstream.Behavior{Chunks: 4, BreakAfter: 2})
			before := e.an.Requests() + e.oa.Requests()
			res := e.post("/v1/chat/completions", e.key, `{"model":"`+tc.model+`","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			b, _ := io.ReadAll(res.Body)
			body := string(b)
			if res.StatusCode != 200 || !strings.Contains(body, `"error"`) || strings.Contains(body, "[DONE]") {
				t.Fatalf("status %d body:\n%s", res.StatusCode, body)
			}
			if got := e.an.Requests() + e.oa.Requests() - before; got != 1 {
				t.Fatalf("%d upstream calls, want 1 (no retry after the first byte)", got)
			}
			tc.mock.Set(mockupstream.Behavior{})
		})
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	e := newEnv(t)
	e.oa.Set(mockupstream.Behavior{Chunks: 50, ChunkDelay: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	client := e.client(e.key)
	stream := client.Chat.Completions.NewStreaming(ctx, chatParams("gpt-mock"))
	if !stream.Next() {
		t.Fatalf("no first chunk: %v", stream.Err())
	}
	cancel()
	stream.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var st struct {
			InFlight int64 `json:"in_flight"`
		}
		res, err := http.Get(e.oaURL + "/mock/stats")
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(res.Body).Decode(&st)
		res.Body.Close()
		if st.InFlight == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("upstream call still running after the client left")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUsageEstimatedWhenUpstreamOmitsIt(t *testing.T) {
	e := newEnv(t)
	e.oa.Set(mockupstream.Behavior{OmitUsage: true, Reply: "你好，世界"})
	p := chatParams("gpt-mock")
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	text, usage, _, err := streamChat(t, e.client(e.key), p)
	if err != nil || text != "你好，世界" {
		t.Fatalf("%q %v", text, err)
	}
	if len(usage) != 1 || usage[0].Usage.CompletionTokens != 5 || usage[0].Usage.PromptTokens == 0 {
		t.Fatalf("estimated usage %+v", usage)
	}
}

// TestToolCallsThroughAnthropic runs a full tool round trip with the SDK
// against an Anthropic-format upstream: the tool call comes back in OpenAI
// shape, and the tool's result goes up as a tool_result block.
func TestToolCallsThroughAnthropic(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	p := chatParams("claude-mock")
	p.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
		Name: "weather", Description: openai.String("Weather by city"),
		Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
	})}
	for _, stream := range []bool{false, true} {
		var calls []openai.ChatCompletionMessageToolCallUnion
		var finish string
		if stream {
			_, _, acc, err := streamChat(t, c, p)
			if err != nil {
				t.Fatal(err)
			}
			calls, finish = acc.Choices[0].Message.ToolCalls, acc.Choices[0].FinishReason
		} else {
			res, err := c.Chat.Completions.New(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			calls, finish = res.Choices[0].Message.ToolCalls, res.Choices[0].FinishReason
		}
		if finish != "tool_calls" || len(calls) != 1 || calls[0].Function.Name != "weather" || calls[0].Function.Arguments != `{"city":"Paris"}` {
			t.Fatalf("stream=%v: finish %q calls %+v", stream, finish, calls)
		}
	}
	res, err := c.Chat.Completions.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	follow := p
	follow.Messages = append(append([]openai.ChatCompletionMessageParamUnion{}, p.Messages...),
		res.Choices[0].Message.ToParam(),
		openai.ToolMessage("18 degrees", res.Choices[0].Message.ToolCalls[0].ID))
	res, err = c.Chat.Completions.New(context.Background(), follow)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Choices[0].Message.Content; !strings.Contains(got, "18 degrees") {
		t.Fatalf("tool result not delivered: %q", got)
	}
}
