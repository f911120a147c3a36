// Package provider defines what the gateway needs from an upstream adapter,
// shaped for all six capabilities: JSON or multipart in; JSON, SSE or binary
// out; usage in tokens, images, seconds, pages or characters.
//
// Adapters live in subpackages named by API format (openai, anthropic). They
// write the answer to a Sink as it arrives and return the usage they saw.
// An adapter that fails before writing anything returns an *UpstreamError so
// the gateway may try the next target; once the Sink has started, the
// gateway can only end the response with an error event.
package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tensorgate/tensorgate/storage/event"
)

// Op is the operation a request asks for.
type Op string

// Operations of the six capabilities.
const (
	OpChat       Op = "chat.completions"
	OpCompletion Op = "completions"
	OpEmbedding  Op = "embeddings"

	OpImageGeneration Op = "images.generations" // image
	OpImageEdit       Op = "images.edits"       // image, multipart
	OpTranscription   Op = "audio.transcriptions"
	OpSpeech          Op = "audio.speech" // tts, binary audio out
	OpOCR             Op = "ocr"
	OpSegment         Op = "vision.segment"
)

// Upload is a multipart request body the gateway spooled to disk, read
// afresh for each attempt so failover can send it again without holding
// it in memory.
type Upload interface {
	// Open returns the body with the named text fields replaced (the
	// model, renamed by the route), and its content type.
	Open(fields map[string]string) (io.ReadCloser, string, error)
	// File opens the first file part's content (the image or the audio)
	// with its file name and content type.
	File() (io.ReadCloser, string, string, error)
	// Field returns a text field's value.
	Field(name string) string
}

// Endpoint is where and how to reach one upstream.
type Endpoint struct {
	Provider string // slug, for errors and metrics
	BaseURL  string // no trailing slash, no /v1
	APIPath  string // the chat path
	APIKey   string // the provider's key; empty for keyless self-hosted services
}

// Request is one call to make upstream.
type Request struct {
	Op         Op
	Capability string
	// Model is the upstream model name (after route resolution).
	Model string
	// ClientModel is the model name the client sent, as it is in Body.
	ClientModel string
	// Body is the client's JSON body, validated.
	Body []byte
	// Upload, for multipart operations, replaces Body.
	Upload Upload
	// Measured is what the gateway measured of the request itself (the
	// seconds of an uploaded audio file), for adapters that must state it.
	Measured Usage
	// Stream asks for server-sent events.
	Stream bool
	// ClientWantsUsage is the client's stream_options.include_usage.
	ClientWantsUsage bool
	// HasStreamOptions says the body already holds a stream_options field.
	HasStreamOptions bool
	// PromptEstimate is the gateway's estimate of the prompt's tokens, used
	// when the upstream reports no usage.
	PromptEstimate int64
}

// Usage is what a call consumed, in the capability's units.
type Usage = event.Usage

// Result describes a completed upstream call.
type Result struct {
	Usage Usage
	// TTFB is the time from sending the request to the first byte of the
	// upstream's answer.
	TTFB time.Duration
}

// Sink is where an adapter writes the client's answer. Start sends the
// status and headers; nothing reaches the client before it.
type Sink interface {
	// Start sends the status line and headers with the given content type.
	Start(status int, contentType string)
	// Write sends body bytes (JSON or binary), started or not.
	Write(p []byte) (int, error)
	// Event writes one SSE data event. It is sent on the next Flush.
	Event(payload []byte) error
	// Flush sends everything written so far to the client.
	Flush() error
	// Started reports whether anything was sent to the client.
	Started() bool
}

// Adapter calls one API format's upstreams.
type Adapter interface {
	// Supports reports whether the format can serve op at all; targets
	// whose adapter can't are skipped without a call.
	Supports(op Op) bool
	Do(ctx context.Context, ep Endpoint, req *Request, sink Sink) (Result, error)
}

// Error classes of failed attempts, for failover decisions and the audit
// trail.
const (
	ClassConnect   = "connect"   // no response: refused, reset, DNS
	ClassTimeout   = "timeout"   // first-byte or idle timeout
	ClassStatus    = "status"    // the upstream answered an error status
	ClassBroken    = "broken"    // the answer broke off midway
	ClassProtocol  = "protocol"  // the answer did not parse
	ClassCanceled  = "canceled"  // the client went away
	ClassClientErr = "client"    // the upstream blamed the request (4xx)
	ClassAuth      = "auth"      // the upstream rejected the gateway's key
	ClassRateLimit = "ratelimit" // the upstream throttled (429)
	// ClassBreakerOpen is a target skipped without a call: its circuit
	// breaker is open.
	ClassBreakerOpen = "breaker_open"
)

// UpstreamError is a failed upstream call.
type UpstreamError struct {
	Provider string
	Class    string
	Status   int // the upstream's status, 0 when there was no response
	// Type, Code, Param and Message describe the error for the client.
	Type, Code, Param, Message string
	RetryAfter                 time.Duration
	Err                        error
}

func (e *UpstreamError) Error() string {
	s := fmt.Sprintf("upstream %s: %s", e.Provider, e.Class)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// Retryable reports whether another target may succeed where this failed:
// connection errors, timeouts, 5xx, throttling and credential problems of
// this provider, but never a request the upstream called malformed.
func (e *UpstreamError) Retryable() bool {
	switch e.Class {
	case ClassClientErr, ClassCanceled:
		return false
	}
	return true
}

// ClassifyStatus returns the class of an upstream error status.
func ClassifyStatus(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return ClassRateLimit
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ClassAuth
	case status == http.StatusNotFound || status == http.StatusRequestTimeout || status == http.StatusConflict:
		// The upstream lacks the model or hiccupped; another may not.
		return ClassStatus
	case status >= 400 && status < 500:
		return ClassClientErr
	default:
		return ClassStatus
	}
}

// ParseRetryAfter reads a Retry-After header in seconds or as an HTTP date.
func ParseRetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(h); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Timeout causes, told apart from a client's cancellation.
var (
	ErrFirstByteTimeout = errors.New("upstream sent nothing before the first-byte timeout")
	ErrIdleTimeout      = errors.New("upstream went quiet past the idle timeout")
)

// CopyBinary streams a binary answer (audio) to the sink as it arrives,
// flushing each read so the client hears it while it is produced. A read
// error after the start is a broken answer.
func CopyBinary(sink Sink, r io.Reader, contentType string) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if !sink.Started() {
				sink.Start(http.StatusOK, contentType)
			}
			if _, werr := sink.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := sink.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			if !sink.Started() {
				sink.Start(http.StatusOK, contentType)
			}
			return nil
		}
		if err != nil {
			if ue, ok := err.(*UpstreamError); ok {
				return ue
			}
			return &UpstreamError{Class: ClassBroken, Message: "the upstream's audio broke off", Err: err}
		}
	}
}
