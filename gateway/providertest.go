package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/auth"
	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/provider/anthropic"
)

// testAnswerBytes caps how much of a provider's answer a test shows.
const testAnswerBytes = 2048

// TestProvider makes one minimal real call to a provider, as the console's
// connection test: a one-token chat with its first open model, through
// the same adapter, endpoint and key a client's request would use (the
// org's own key when orgID names an org that has one), or, for a provider
// that does not chat or lists no model, a request for its model list. It
// answers "HTTP <status> in <ms> ms: <what the upstream said>", as an
// error when the call failed.
func (s *Server) TestProvider(ctx context.Context, pv *fsm.Provider, capability, orgID string) (string, error) {
	// A caller without an org (a super admin) tests with the provider's
	// own key or the system's.
	p := auth.Principal{Org: &fsm.Org{}}
	if orgID != "" {
		st := s.state.View()
		if o := st.Orgs[orgID]; o != nil {
			p.Org, p.Policy = o, st.Policies[orgID]
		}
	}
	ep, err := s.endpoint(p, pv)
	if err != nil {
		return "", fmt.Errorf("the provider's key: %w", err)
	}
	model := ""
	if i := slices.IndexFunc(pv.Models, pv.Open); i >= 0 {
		model = pv.Models[i]
	}
	a := s.adapters[pv.Format]
	if capability == "llm" && model != "" && a != nil && a.Supports(provider.OpChat) {
		return s.testChat(ctx, a, ep, model)
	}
	return s.testModels(ctx, ep, pv.Format)
}

// testChat asks for one token.
func (s *Server) testChat(ctx context.Context, a provider.Adapter, ep provider.Endpoint, model string) (string, error) {
	body, _ := json.Marshal(map[string]any{"model": model, "max_tokens": 1, "messages": []any{map[string]string{"role": "user", "content": "ping"}}})
	sink := &testSink{}
	start := s.now()
	_, err := a.Do(ctx, ep, &provider.Request{Op: provider.OpChat, Capability: "llm", Model: model, ClientModel: model, Body: body, PromptEstimate: 1}, sink)
	ms := s.now().Sub(start).Milliseconds()
	var ue *provider.UpstreamError
	switch {
	case errors.As(err, &ue) && ue.Status != 0:
		return "", fmt.Errorf("HTTP %d in %d ms: %s", ue.Status, ms, ue.Message)
	case errors.As(err, &ue):
		return "", fmt.Errorf("could not reach %s: %s", ep.BaseURL, ue.Message)
	case err != nil:
		return "", fmt.Errorf("could not reach %s: %v", ep.BaseURL, err)
	}
	return fmt.Sprintf("HTTP %d in %d ms: %s", sink.status, ms, strings.TrimSpace(string(sink.buf))), nil
}

// testModels lists the provider's models: /models beside its chat path
// (/v1/chat/completions or /v1/messages gives /v1/models).
func (s *Server) testModels(ctx context.Context, ep provider.Endpoint, format string) (string, error) {
	dir := strings.TrimSuffix(strings.TrimSuffix(ep.APIPath, "/chat/completions"), "/messages")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.BaseURL+dir+"/models", nil)
	if err != nil {
		return "", errors.New("the provider's address is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	switch {
	case ep.APIKey == "":
	case format == fsm.FormatAnthropic:
		req.Header.Set("x-api-key", ep.APIKey)
		req.Header.Set("anthropic-version", anthropic.APIVersion)
	default:
		req.Header.Set("Authorization", "Bearer "+ep.APIKey)
	}
	start := s.now()
	res, err := s.fetcher.Do(req)
	if err != nil {
		return "", fmt.Errorf("could not reach %s: %v", ep.BaseURL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, testAnswerBytes))
	msg := fmt.Sprintf("HTTP %d in %d ms: %s", res.StatusCode, s.now().Sub(start).Milliseconds(), strings.TrimSpace(string(b)))
	if res.StatusCode/100 != 2 {
		return "", errors.New(msg)
	}
	return msg, nil
}

// testSink keeps the start of an answer.
type testSink struct {
	status  int
	started bool
	buf     []byte
}

var _ provider.Sink = (*testSink)(nil)

func (t *testSink) Start(status int, _ string) { t.status, t.started = status, true }

func (t *testSink) Write(p []byte) (int, error) {
	if !t.started {
		t.Start(http.StatusOK, "")
	}
	t.buf = append(t.buf, p[:min(len(p), testAnswerBytes-len(t.buf))]...)
	return len(p), nil
}

func (t *testSink) Event(payload []byte) error { _, err := t.Write(payload); return err }
func (t *testSink) Flush() error               { return nil }
func (t *testSink) Started() bool              { return t.started }
