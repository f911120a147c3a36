package gateway

import (
	"bytes"
	"net/http"

	"github.com/tensorgate/tensorgate/gateway/sse"
)

// responseSink writes an adapter's answer to the client, flushing every
// event so nothing in text/event-stream is ever buffered.
type responseSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
	status  int
	buf     []byte
	// provider and model of the current attempt, sent as headers.
	provider, model string
	ownKey          bool // the attempt uses the org's own key
	bytes           int64
	// pending is the response's end, held back until finish: the final
	// byte of a body, or a stream's closing event. The usage event is made
	// durable before it goes out.
	pending []byte
	// capture keeps the answer for the audit record; nil when bodies are
	// not stored.
	capture *bodyCapture
	// hold, when set, takes the adapter's answer instead of the client:
	// the gateway rewrites it before sending (stored images).
	hold *bufferedSink
}

func newSink(w http.ResponseWriter, captureLimit int) *responseSink {
	return &responseSink{w: w, rc: http.NewResponseController(w), capture: newCapture(captureLimit)}
}

func (s *responseSink) Start(status int, contentType string) {
	if s.hold != nil {
		s.hold.Start(status, contentType)
		return
	}
	if s.started {
		return
	}
	h := s.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Tensorgate-Provider", s.provider)
	h.Set("X-Tensorgate-Upstream-Model", s.model)
	if contentType == "text/event-stream" {
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
	}
	s.started, s.status = true, status
	if s.capture != nil && !textual(contentType) {
		s.capture.binary = contentType
	}
	s.w.WriteHeader(status)
}

// Write sends body bytes, always holding back the last byte seen so far.
func (s *responseSink) Write(p []byte) (int, error) {
	if s.hold != nil {
		return s.hold.Write(p)
	}
	if !s.started {
		s.Start(http.StatusOK, "application/octet-stream")
	}
	if len(p) == 0 {
		return 0, nil
	}
	if s.capture != nil {
		capture(s.capture, p)
	}
	if err := s.writeNow(s.pending); err != nil {
		return 0, err
	}
	s.pending = append(s.pending[:0], p[len(p)-1])
	if err := s.writeNow(p[:len(p)-1]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Event sends one SSE event; the closing [DONE] is held back for finish.
// Events are not held: a client acts on each as it arrives.
func (s *responseSink) Event(payload []byte) error {
	if s.hold != nil {
		return s.hold.Event(payload)
	}
	if !s.started {
		s.Start(http.StatusOK, "text/event-stream")
	}
	if err := s.writeNow(s.pending); err != nil {
		return err
	}
	s.pending = s.pending[:0]
	if s.capture != nil {
		s.capture.chunk(payload)
	}
	s.buf = sse.AppendData(s.buf[:0], payload)
	if bytes.Equal(payload, sse.Done) {
		s.pending = append(s.pending, s.buf...)
		return nil
	}
	return s.writeNow(s.buf)
}

func (s *responseSink) writeNow(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := s.w.Write(b)
	s.bytes += int64(n)
	return err
}

// finish sends what was held back and flushes.
func (s *responseSink) finish() {
	if !s.started {
		return
	}
	_ = s.writeNow(s.pending)
	s.pending = s.pending[:0]
	_ = s.rc.Flush()
}

func (s *responseSink) Flush() error {
	if !s.started {
		return nil
	}
	return s.rc.Flush()
}

func (s *responseSink) Started() bool {
	if s.hold != nil {
		return s.hold.Started()
	}
	return s.started
}
