// Package mockupstream is a fake model provider for tests, benchmarks and
// demos. It speaks the OpenAI format (chat completions, completions,
// embeddings, images, audio, and the contract's OCR and segmentation),
// the Anthropic Messages format, and DashScope's native task, multimodal
// generation and compatible-mode shapes, JSON and SSE, with configurable
// latency, failures and mid-stream breaks.
package mockupstream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behavior shapes the mock's answers. The zero value answers every call
// at once and successfully.
type Behavior struct {
	// Latency is waited before answering (before the first chunk of a
	// stream).
	Latency time.Duration `json:"latency"`
	// FailStatus, when set, answers this status with an error body.
	FailStatus int `json:"fail_status"`
	// FailCount limits failures to the first N requests (0: all).
	FailCount int64 `json:"fail_count"`
	// RetryAfter is sent with failures, in seconds.
	RetryAfter int `json:"retry_after"`
	// Chunks is the number of content chunks of a stream (default 3).
	Chunks int `json:"chunks"`
	// ChunkDelay is waited between chunks.
	ChunkDelay time.Duration `json:"chunk_delay"`
	// BreakAfter aborts a stream's connection after this many chunks.
	BreakAfter int `json:"break_after"`
	// OmitUsage leaves usage out of answers.
	OmitUsage bool `json:"omit_usage"`
	// Reply is the assistant's text (default "Hello from the mock upstream.").
	Reply string `json:"reply"`
	// Record keeps a copy of each request for LastRequest.
	Record bool `json:"record"`
	// AudioSeconds is the duration a transcription reports (0: none, so
	// the gateway measures the audio itself).
	AudioSeconds float64 `json:"audio_seconds"`
	// Pages is the page count an OCR answer has (default 1).
	Pages int `json:"pages"`
}

// Recorded is a request the mock received.
type Recorded struct {
	Path   string
	Header http.Header
	Body   []byte
}

// Server is the mock upstream; it is an http.Handler.
type Server struct {
	mu       sync.RWMutex
	b        Behavior
	last     Recorded
	requests atomic.Int64
	failures atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
	// mediaSeen is the file bytes of the last multipart call.
	mediaSeen atomic.Int64
	dash      dashTasks
	mux       *http.ServeMux
}

// New returns a mock with behavior b.
func New(b Behavior) *Server {
	s := &Server{b: b, mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /v1/chat/completions", s.chat)
	s.mux.HandleFunc("POST /v1/completions", s.completions)
	s.mux.HandleFunc("POST /v1/embeddings", s.embeddings)
	s.mux.HandleFunc("POST /v1/messages", s.messages)
	s.mux.HandleFunc("GET /v1/models", s.listModels)
	s.mux.HandleFunc("POST /mock/behavior", s.setBehavior)
	s.mux.HandleFunc("GET /mock/stats", s.stats)
	s.mediaRoutes()
	s.dashscopeRoutes()
	return s
}

// Set replaces the behavior.
func (s *Server) Set(b Behavior) {
	s.mu.Lock()
	s.b = b
	s.mu.Unlock()
	s.failures.Store(0)
}

func (s *Server) behavior() Behavior {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.b
}

// Requests is how many model calls the mock has received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// UploadedBytes is the size of the files in the last multipart call, as
// the mock received them.
func (s *Server) UploadedBytes() int64 { return s.mediaSeen.Load() }

// PeakInFlight is the most calls the mock has served at once.
func (s *Server) PeakInFlight() int64 { return s.peak.Load() }

// LastRequest is the last recorded call (Behavior.Record).
func (s *Server) LastRequest() Recorded {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// begin counts a call and applies the common behavior; it reports false
// when it already answered with a failure.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, body []byte, anthropic bool) (Behavior, bool) {
	s.requests.Add(1)
	b := s.behavior()
	if b.Record {
		s.mu.Lock()
		s.last = Recorded{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		s.mu.Unlock()
	}
	if b.Latency > 0 {
		select {
		case <-time.After(b.Latency):
		case <-r.Context().Done():
			return b, false
		}
	}
	if b.FailStatus != 0 && (b.FailCount == 0 || s.failures.Add(1) <= b.FailCount) {
		if b.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(b.RetryAfter))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(b.FailStatus)
		if anthropic {
			fmt.Fprintf(w, `{"type":"error","error":{"type":%q,"message":"mock failure %d"}}`, anthropicErrorType(b.FailStatus), b.FailStatus)
		} else {
			fmt.Fprintf(w, `{"error":{"message":"mock failure %d","type":"server_error","param":null,"code":"mock_failure"}}`, b.FailStatus)
		}
		return b, false
	}
	return b, true
}

func (s *Server) track() func() {
	n := s.inFlight.Add(1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return func() { s.inFlight.Add(-1) }
}

func anthropicErrorType(status int) string {
	switch {
	case status == 429:
		return "rate_limit_error"
	case status == 401:
		return "authentication_error"
	case status == 529:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

func (b Behavior) reply() string {
	if b.Reply != "" {
		return b.Reply
	}
	return "Hello from the mock upstream."
}

func (b Behavior) chunks() []string {
	n := b.Chunks
	if n <= 0 {
		n = 3
	}
	words := strings.SplitAfter(b.reply(), " ")
	out := make([]string, n)
	for i, w := range words {
		out[i*n/len(words)] += w
	}
	return out
}

// tokens is the mock's own crude token count, so usage is deterministic.
func tokens(s string) int64 { return int64(len(s)+3) / 4 }

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int64{"requests": s.Requests(), "peak_in_flight": s.PeakInFlight(), "in_flight": s.inFlight.Load()})
}

func (s *Server) setBehavior(w http.ResponseWriter, r *http.Request) {
	var b Behavior
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.Set(b)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"object":"list","data":[{"id":"mock-model","object":"model","created":0,"owned_by":"mock"}]}`)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, anthropic bool, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	if anthropic {
		fmt.Fprintf(w, `{"type":"error","error":{"type":"invalid_request_error","message":%q}}`, msg)
		return
	}
	fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error","param":null,"code":null}}`, msg)
}

// sseWriter writes and flushes events.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sseWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

func (s *sseWriter) send(event string, v any) {
	b, _ := json.Marshal(v)
	if event != "" {
		fmt.Fprintf(s.w, "event: %s\n", event)
	}
	fmt.Fprintf(s.w, "data: %s\n\n", b)
	_ = s.rc.Flush()
}

// data sends one pre-encoded data event and flushes it.
func (s *sseWriter) data(payload []byte) {
	buf := make([]byte, 0, len(payload)+8)
	buf = append(buf, "data: "...)
	buf = append(buf, payload...)
	buf = append(buf, '\n', '\n')
	_, _ = s.w.Write(buf)
	_ = s.rc.Flush()
}

func (s *sseWriter) raw(line string) {
	fmt.Fprint(s.w, line)
	_ = s.rc.Flush()
}

// pause waits between chunks, or reports false when the client left.
func pause(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	select {
	case <-time.After(d):
		return true
	case <-r.Context().Done():
		return false
	}
}
