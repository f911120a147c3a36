// Package dashscope is the adapter for DashScope (阿里云百炼): chat goes
// through its OpenAI-compatible mode; image generation through its
// asynchronous task API; transcription (qwen3-asr-flash) and OCR
// (qwen-vl-ocr) through compatible-mode chat with an audio or image part;
// speech (qwen-tts) through its multimodal generation API, whose audio is
// fetched and streamed back. Answers are shaped into the OpenAI (and the
// contract's) responses.
package dashscope

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/provider/openai"
)

// Native API paths, under the origin of the provider's base URL.
const (
	pathImageSynthesis = "/api/v1/services/aigc/text2image/image-synthesis"
	pathTasks          = "/api/v1/tasks/"
	pathMultimodal     = "/api/v1/services/aigc/multimodal-generation/generation"
)

// Adapter calls DashScope.
type Adapter struct {
	HTTP   *provider.HTTP
	Compat *openai.Adapter
	// PollMin and PollMax bound the wait between polls of an image task;
	// TaskWait bounds the whole wait (defaults 500ms, 5s, 3m).
	PollMin, PollMax, TaskWait time.Duration
}

var _ provider.Adapter = (*Adapter)(nil)

// New returns an adapter over h.
func New(h *provider.HTTP) *Adapter {
	return &Adapter{HTTP: h, Compat: &openai.Adapter{HTTP: h}, PollMin: 500 * time.Millisecond, PollMax: 5 * time.Second, TaskWait: 3 * time.Minute}
}

// Supports reports what DashScope serves: chat, completions and
// embeddings in compatible mode, and the four native media operations.
func (a *Adapter) Supports(op provider.Op) bool {
	switch op {
	case provider.OpChat, provider.OpCompletion, provider.OpEmbedding, provider.OpImageGeneration,
		provider.OpTranscription, provider.OpSpeech, provider.OpOCR:
		return true
	}
	return false
}

// Do performs the call and writes the answer to sink.
func (a *Adapter) Do(ctx context.Context, ep provider.Endpoint, req *provider.Request, sink provider.Sink) (provider.Result, error) {
	switch req.Op {
	case provider.OpImageGeneration:
		return a.image(ctx, ep, req, sink)
	case provider.OpTranscription:
		return a.transcribe(ctx, ep, req, sink)
	case provider.OpSpeech:
		return a.speak(ctx, ep, req, sink)
	case provider.OpOCR:
		return a.ocr(ctx, ep, req, sink)
	}
	return a.Compat.Do(ctx, ep, req, sink)
}

// origin is the scheme and host of the provider's base URL: the native
// APIs live there, beside the compatible mode.
func origin(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Scheme + "://" + u.Host
}

// send posts JSON (or GETs when body is nil) with the provider's key and
// returns the answer's body, or the upstream's error.
func (a *Adapter) send(ctx context.Context, ep provider.Endpoint, method, u string, body io.Reader, header map[string]string) (*provider.Response, error) {
	hreq, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassConnect, Message: "bad upstream URL", Err: err}
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if ep.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+ep.APIKey)
	}
	for k, v := range header {
		hreq.Header.Set(k, v)
	}
	res, err := a.HTTP.Send(ctx, ep.Provider, hreq, false)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		defer res.Close()
		return nil, nativeError(ep.Provider, res.Response)
	}
	return res, nil
}

// readJSON decodes a bounded JSON answer.
func readJSON(ep provider.Endpoint, res *provider.Response, v any) error {
	defer res.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "upstream answer is not JSON", Err: err}
	}
	return nil
}

// nativeError reads DashScope's {"code","message","request_id"} error.
func nativeError(prov string, res *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	ue := &provider.UpstreamError{Provider: prov, Status: res.StatusCode, Class: provider.ClassifyStatus(res.StatusCode),
		RetryAfter: provider.ParseRetryAfter(res.Header.Get("Retry-After"), time.Now())}
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Error   *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil {
		ue.Code, ue.Message = e.Code, e.Message
		if e.Error != nil {
			ue.Code, ue.Message = e.Error.Code, e.Error.Message
		}
	}
	if ue.Message == "" {
		ue.Message = strings.TrimSpace(string(b[:min(len(b), 200)]))
	}
	if ue.Class == provider.ClassClientErr {
		ue.Type, ue.Code = "invalid_request_error", "invalid_request_error"
	}
	return ue
}

// writeJSON starts the answer and writes v.
func writeJSON(sink provider.Sink, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sink.Start(http.StatusOK, "application/json")
	_, err = sink.Write(b)
	return err
}

// chat sends a compatible-mode chat request whose body streams from r and
// returns the answer's text and usage.
func (a *Adapter) chat(ctx context.Context, ep provider.Endpoint, r io.Reader) (string, wireUsage, error) {
	path := ep.APIPath
	if path == "" {
		path = "/v1/chat/completions"
	}
	res, err := a.send(ctx, ep, http.MethodPost, ep.BaseURL+path, r, nil)
	if err != nil {
		return "", wireUsage{}, err
	}
	var out struct {
		Choices []struct {
			Message struct {
				Content json.RawMessage `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage wireUsage `json:"usage"`
	}
	if err := readJSON(ep, res, &out); err != nil {
		return "", wireUsage{}, err
	}
	if len(out.Choices) == 0 {
		return "", out.Usage, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "the answer has no choice"}
	}
	return contentText(out.Choices[0].Message.Content), out.Usage, nil
}

// contentText reads a message's content: a string, or parts with text.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// wireUsage is compatible mode's usage, with the seconds ASR reports.
type wireUsage struct {
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	Seconds          float64 `json:"seconds"`
}

// clientModel puts the model the client named back into an answer.
func clientModel(req *provider.Request) string {
	if req.ClientModel != "" {
		return req.ClientModel
	}
	return req.Model
}

// mediaBody reads the fields of a JSON media request.
func mediaBody(ep provider.Endpoint, req *provider.Request, v any) error {
	if err := json.Unmarshal(req.Body, v); err != nil {
		return &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassClientErr, Status: 400,
			Type: "invalid_request_error", Code: "invalid_request_error", Message: fmt.Sprintf("request body: %v", err)}
	}
	return nil
}

// jsonReader encodes v for a request body.
func jsonReader(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}
