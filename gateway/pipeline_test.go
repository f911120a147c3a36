package gateway_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/quota"
)

// stepLog records the pipeline steps each path's requests entered.
type stepLog struct {
	mu    sync.Mutex
	steps map[string][]string
}

func (l *stepLog) hear(path, step string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps[path] = append(l.steps[path], step)
}

// take returns and forgets what path's requests went through.
func (l *stepLog) take(path string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.steps[path]
	delete(l.steps, path)
	return s
}

func traceSteps(s *gateway.Server) *stepLog {
	l := &stepLog{steps: map[string][]string{}}
	gateway.TraceSteps(s, l.hear)
	return l
}

// endpointCall is a valid request to one endpoint of the capability table.
type endpointCall struct {
	model string
	// body builds the request for model: its body and content type.
	body func(model string) (io.Reader, string)
}

func jsonCall(model, tmpl string) endpointCall {
	return endpointCall{model: model, body: func(m string) (io.Reader, string) {
		return strings.NewReader(strings.ReplaceAll(tmpl, "MODEL", m)), "application/json"
	}}
}

func multipartCall(model, fileField, fileName string, file []byte, fields map[string]string) endpointCall {
	return endpointCall{model: model, body: func(m string) (io.Reader, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		_ = mw.WriteField("model", m)
		for k, v := range fields {
			_ = mw.WriteField(k, v)
		}
		fw, _ := mw.CreateFormFile(fileField, fileName)
		_, _ = fw.Write(file)
		_ = mw.Close()
		return &b, mw.FormDataContentType()
	}}
}

// endpointCalls has a valid call for every path of fsm.CapabilityTable: a
// capability added to the table without one here fails the test.
var endpointCalls = map[string]endpointCall{
	"/v1/chat/completions":     jsonCall("gpt-mock", `{"model":"MODEL","messages":[{"role":"user","content":"hi"}]}`),
	"/v1/completions":          jsonCall("gpt-mock", `{"model":"MODEL","prompt":"hi"}`),
	"/v1/embeddings":           jsonCall("gpt-mock", `{"model":"MODEL","input":"hi"}`),
	"/v1/images/generations":   jsonCall("img-mock", `{"model":"MODEL","prompt":"a cat","response_format":"b64_json"}`),
	"/v1/images/edits":         multipartCall("img-mock", "image", "cat.png", []byte("\x89PNG fake"), map[string]string{"prompt": "a hat", "response_format": "b64_json"}),
	"/v1/audio/transcriptions": multipartCall("asr-mock", "file", "hello.wav", wav(2), nil),
	"/v1/audio/speech":         jsonCall("tts-mock", `{"model":"MODEL","input":"hello","voice":"alloy"}`),
	"/v1/ocr":                  jsonCall("ocr-mock", `{"model":"MODEL","document":{"type":"image_url","image_url":"data:image/png;base64,iVBORw0KGgo="}}`),
	"/v1/vision/segment":       jsonCall("seg-mock", `{"model":"MODEL","image":"data:image/png;base64,iVBORw0KGgo="}`),
}

func send(t *testing.T, base, path, key string, c endpointCall, model string) int {
	t.Helper()
	body, ct := c.body(model)
	req, _ := http.NewRequest("POST", base+path, body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// TestEveryCapabilityTakesTheSameSteps sends a call to every endpoint of
// the capability table and checks each went through the one pipeline, in
// its order, stopping at the step that refused it.
func TestEveryCapabilityTakesTheSameSteps(t *testing.T) {
	e := newEnv(t)
	e.withMedia()
	log := traceSteps(e.srv)
	all := gateway.PipelineSteps()
	upTo := func(last string) []string { return all[:slices.Index(all, last)+1] }
	noScope, _ := e.addKey(func(k *fsm.Key) { k.Scopes = []string{"/v1/nothing"} })
	for _, c := range fsm.CapabilityTable {
		for _, ep := range c.Endpoints {
			t.Run(ep.Path, func(t *testing.T) {
				call, ok := endpointCalls[ep.Path]
				if !ok {
					t.Fatalf("no test call for %s: add one to endpointCalls", ep.Path)
				}
				for _, tc := range []struct {
					name, key, model string
					status           int
					steps            []string
				}{
					{"answered", e.key, call.model, 200, all},
					{"out of scope", noScope, call.model, 403, upTo("scope")},
					{"unknown model", e.key, "no-such-model", 404, upTo("resolve")},
				} {
					if got := send(t, e.gw.URL, ep.Path, tc.key, call, tc.model); got != tc.status {
						t.Errorf("%s: status %d, want %d", tc.name, got, tc.status)
					}
					if diff := cmp.Diff(tc.steps, log.take(ep.Path)); diff != "" {
						t.Errorf("%s: steps (-want +got):\n%s", tc.name, diff)
					}
				}
			})
		}
	}
}

// refusingLimiter refuses every call, noting what each asked to reserve.
type refusingLimiter struct {
	mu   sync.Mutex
	seen []quota.Request
}

func (l *refusingLimiter) Admit(_ context.Context, r quota.Request) (quota.Ticket, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, r)
	return quota.Ticket{}, &quota.Error{Kind: fsm.KindRPM, Scope: "key", RetryAfter: time.Second}
}

func (l *refusingLimiter) AdmitSlot(context.Context, string, string, *fsm.Policy) (quota.Ticket, error) {
	return quota.Ticket{}, nil
}

// TestEveryCapabilityTakesTheSameLimitStep checks that chat and media
// calls are refused by the one limit step, with the same answer, after
// everything else that may refuse them and before any upstream call.
func TestEveryCapabilityTakesTheSameLimitStep(t *testing.T) {
	e := newEnv(t)
	e.withMedia()
	lim := &refusingLimiter{}
	gw, err := gateway.New(gateway.DefaultConfig(), gateway.Deps{State: e.f, Unsealer: e.sealer, Recorder: e.rec,
		Limiter: lim, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	log := traceSteps(gw)
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	all := gateway.PipelineSteps()
	want := all[:slices.Index(all, "limits")+1]
	before := e.oa.Requests()
	for path, call := range endpointCalls {
		if got := send(t, srv.URL, path, e.key, call, call.model); got != http.StatusTooManyRequests {
			t.Errorf("%s: status %d, want 429", path, got)
		}
		if diff := cmp.Diff(want, log.take(path)); diff != "" {
			t.Errorf("%s: steps (-want +got):\n%s", path, diff)
		}
	}
	if len(lim.seen) != len(endpointCalls) {
		t.Fatalf("the limiter saw %d calls, want %d", len(lim.seen), len(endpointCalls))
	}
	if n := e.oa.Requests(); n != before {
		t.Fatalf("%d upstream calls after refusals", n-before)
	}
}
