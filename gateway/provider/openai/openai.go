// Package openai is the adapter for OpenAI-format upstreams: DashScope's
// compatible mode, DeepSeek, vLLM, OpenAI itself. It forwards the client's
// body with as little re-encoding as possible and passes streams through
// event by event, reading usage on the way.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/sse"
)

// maxResponse bounds a buffered (non-streaming) upstream answer.
const maxResponse = 64 << 20

// Adapter calls OpenAI-format upstreams.
type Adapter struct {
	HTTP *provider.HTTP
}

var _ provider.Adapter = (*Adapter)(nil)

// Supports reports the operations OpenAI-format upstreams serve.
func (a *Adapter) Supports(op provider.Op) bool {
	switch op {
	case provider.OpChat, provider.OpCompletion, provider.OpEmbedding:
		return true
	}
	_, ok := mediaPaths[op]
	return ok
}

// path returns the upstream path of an operation.
func path(op provider.Op, chatPath string) string {
	switch op {
	case provider.OpCompletion:
		return "/v1/completions"
	case provider.OpEmbedding:
		return "/v1/embeddings"
	}
	return chatPath
}

// Do performs the call and writes the answer to sink.
func (a *Adapter) Do(ctx context.Context, ep provider.Endpoint, req *provider.Request, sink provider.Sink) (provider.Result, error) {
	if _, ok := mediaPaths[req.Op]; ok {
		return a.doMedia(ctx, ep, req, sink)
	}
	forceUsage := req.Stream && !req.ClientWantsUsage && req.Op != provider.OpEmbedding
	body, err := PatchBody(req.Body, req.ClientModel, req.Model, forceUsage, req.HasStreamOptions)
	if err != nil {
		return provider.Result{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassClientErr, Status: 400,
			Type: "invalid_request_error", Code: "invalid_request_error", Message: err.Error()}
	}
	hreq, err := http.NewRequest(http.MethodPost, ep.BaseURL+path(req.Op, ep.APIPath), bytes.NewReader(body))
	if err != nil {
		return provider.Result{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassConnect, Message: "bad upstream URL", Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	if req.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	if ep.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+ep.APIKey)
	}
	res, err := a.HTTP.Send(ctx, ep.Provider, hreq, req.Stream)
	if err != nil {
		return provider.Result{}, err
	}
	defer res.Close()
	if res.StatusCode/100 != 2 {
		return provider.Result{TTFB: res.TTFB}, ErrorFromResponse(ep.Provider, res.Response)
	}
	if req.Stream {
		u, err := a.stream(ep, req, res, sink)
		return provider.Result{Usage: u, TTFB: res.TTFB}, err
	}
	u, err := a.buffered(ep, req, res, sink)
	return provider.Result{Usage: u, TTFB: res.TTFB}, err
}

func (a *Adapter) buffered(ep provider.Endpoint, req *provider.Request, res *provider.Response, sink provider.Sink) (provider.Usage, error) {
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse+1))
	if err != nil {
		return provider.Usage{}, err
	}
	if len(b) > maxResponse {
		return provider.Usage{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "upstream answer too large"}
	}
	var parsed struct {
		Usage   *wireUsage `json:"usage"`
		Choices []struct {
			Message struct {
				Content json.RawMessage `json:"content"`
			} `json:"message"`
			Text string `json:"text"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &parsed); err != nil {
		return provider.Usage{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "upstream answer is not JSON", Err: err}
	}
	var u provider.Usage
	if parsed.Usage != nil {
		u = parsed.Usage.toUsage()
	} else {
		var completion int64
		for _, c := range parsed.Choices {
			completion += provider.EstimateTokens(c.Message.Content) + provider.EstimateString(c.Text)
		}
		u = provider.Usage{PromptTokens: req.PromptEstimate, CompletionTokens: completion, Estimated: true}
		if req.Op == provider.OpEmbedding {
			u.CompletionTokens = 0
		}
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	ct := res.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	sink.Start(http.StatusOK, ct)
	if _, err := sink.Write(b); err != nil {
		return u, err
	}
	return u, nil
}

func (a *Adapter) stream(ep provider.Endpoint, req *provider.Request, res *provider.Response, sink provider.Sink) (provider.Usage, error) {
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return provider.Usage{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol,
			Message: fmt.Sprintf("upstream answered %q to a stream request", ct)}
	}
	r := sse.NewReader(res.Body, 0)
	defer r.Release()
	var (
		usage     *provider.Usage
		runes     int64
		sawFinish bool
	)
	start := func() {
		if !sink.Started() {
			sink.Start(http.StatusOK, "text/event-stream")
		}
	}
	finish := func() (provider.Usage, error) {
		u := provider.Usage{PromptTokens: req.PromptEstimate, CompletionTokens: runes, Estimated: true}
		if usage != nil {
			u = *usage
		} else {
			u.TotalTokens = u.PromptTokens + u.CompletionTokens
			if req.ClientWantsUsage {
				// The client asked for usage and the upstream sent none:
				// give the estimate rather than nothing.
				start()
				_ = sink.Event(usageChunk(req.Model, u))
			}
		}
		start()
		if err := sink.Event(sse.Done); err != nil {
			return u, err
		}
		return u, sink.Flush()
	}
	for {
		ev, err := r.Next()
		if err != nil {
			if err == io.EOF && sawFinish {
				return finish()
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return provider.Usage{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassBroken, Message: "the upstream's stream ended before it finished"}
			}
			if _, ok := err.(*provider.UpstreamError); ok {
				return provider.Usage{}, err
			}
			return provider.Usage{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "malformed event stream", Err: err}
		}
		data := ev.Data
		if bytes.Equal(data, sse.Done) {
			return finish()
		}
		if len(data) == 0 {
			continue
		}
		forward := true
		if bytes.Contains(data, []byte(`"usage"`)) || bytes.Contains(data, []byte(`"error"`)) {
			var c struct {
				Choices []json.RawMessage `json:"choices"`
				Usage   *wireUsage        `json:"usage"`
				Error   *wireError        `json:"error"`
			}
			if err := json.Unmarshal(data, &c); err != nil {
				return provider.Usage{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "malformed stream chunk", Err: err}
			}
			if c.Error != nil {
				return provider.Usage{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassBroken,
					Type: c.Error.Type, Code: c.Error.codeString(), Message: c.Error.Message}
			}
			if c.Usage != nil {
				u := c.Usage.toUsage()
				usage = &u
				if !req.ClientWantsUsage && len(c.Choices) == 0 {
					forward = false // the usage chunk we asked for on our own behalf
				}
			}
		}
		if bytes.Contains(data, []byte(`"finish_reason":"`)) {
			sawFinish = true
		}
		runes += contentTokens(data)
		if forward {
			start()
			if err := sink.Event(data); err != nil {
				return provider.Usage{}, err
			}
		}
		if r.Buffered() == 0 && sink.Started() {
			if err := sink.Flush(); err != nil {
				return provider.Usage{}, err
			}
		}
	}
}

// contentTokens estimates the tokens in a chunk's "content" strings without
// decoding it, for upstreams that report no usage.
func contentTokens(chunk []byte) int64 {
	var n int64
	key := []byte(`"content":"`)
	for {
		i := bytes.Index(chunk, key)
		if i < 0 {
			return n
		}
		chunk = chunk[i+len(key):]
		end := 0
		for end < len(chunk) && chunk[end] != '"' {
			if chunk[end] == '\\' {
				end++
			}
			end++
		}
		if end > len(chunk) {
			end = len(chunk)
		}
		if utf8.Valid(chunk[:end]) {
			n += provider.EstimateTokens(chunk[:end])
		}
		chunk = chunk[end:]
	}
}

func usageChunk(model string, u provider.Usage) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": "usage", "object": "chat.completion.chunk", "model": model, "choices": []any{},
		"usage": map[string]int64{"prompt_tokens": u.PromptTokens, "completion_tokens": u.CompletionTokens, "total_tokens": u.TotalTokens},
	})
	return b
}

type wireUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func (w *wireUsage) toUsage() provider.Usage {
	u := provider.Usage{PromptTokens: w.PromptTokens, CompletionTokens: w.CompletionTokens, TotalTokens: w.TotalTokens}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	if w.PromptTokensDetails != nil {
		u.CachedTokens = w.PromptTokensDetails.CachedTokens
	}
	return u
}

type wireError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

func (e *wireError) codeString() string {
	var s string
	if json.Unmarshal(e.Code, &s) == nil {
		return s
	}
	return strings.Trim(string(e.Code), `"`)
}

// ErrorFromResponse turns an upstream error answer into an *UpstreamError,
// keeping its message for the client when the upstream blamed the request.
func ErrorFromResponse(prov string, res *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	ue := &provider.UpstreamError{
		Provider: prov, Status: res.StatusCode, Class: provider.ClassifyStatus(res.StatusCode),
		RetryAfter: provider.ParseRetryAfter(res.Header.Get("Retry-After"), timeNow()),
	}
	var env struct {
		Error *wireError `json:"error"`
		// Some compatible servers answer {"message": ...} or {"detail": ...}.
		Message string `json:"message"`
		Detail  any    `json:"detail"`
	}
	if json.Unmarshal(b, &env) == nil {
		switch {
		case env.Error != nil:
			ue.Message, ue.Type, ue.Code = env.Error.Message, env.Error.Type, env.Error.codeString()
			var p string
			if json.Unmarshal(env.Error.Param, &p) == nil {
				ue.Param = p
			}
		case env.Message != "":
			ue.Message = env.Message
		case env.Detail != nil:
			ue.Message = fmt.Sprint(env.Detail)
		}
	}
	if ue.Message == "" {
		ue.Message = strings.TrimSpace(string(b))
		if len(ue.Message) > 200 {
			ue.Message = ue.Message[:200]
		}
	}
	return ue
}
