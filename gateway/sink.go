package gateway

import (
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
	bytes           int64
}

func newSink(w http.ResponseWriter) *responseSink {
	return &responseSink{w: w, rc: http.NewResponseController(w)}
}

func (s *responseSink) Start(status int, contentType string) {
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
	s.w.WriteHeader(status)
}

func (s *responseSink) Write(p []byte) (int, error) {
	if !s.started {
		s.Start(http.StatusOK, "application/octet-stream")
	}
	n, err := s.w.Write(p)
	s.bytes += int64(n)
	return n, err
}

func (s *responseSink) Event(payload []byte) error {
	if !s.started {
		s.Start(http.StatusOK, "text/event-stream")
	}
	s.buf = sse.AppendData(s.buf[:0], payload)
	n, err := s.w.Write(s.buf)
	s.bytes += int64(n)
	return err
}

func (s *responseSink) Flush() error {
	if !s.started {
		return nil
	}
	return s.rc.Flush()
}

func (s *responseSink) Started() bool { return s.started }
