// Package apierr is the one error envelope of Tensorgate's HTTP APIs: the
// OpenAI-style body {"error":{"message","type","param","code"}} that both
// the /v1 data plane and the admin API answer with, the Error that carries
// it (a public message and an internal cause that is only logged), the
// data plane's table of codes and statuses, and the stream error event.
//
// It lives under fsm because fsm is the one package of ours that both the
// gateway and admin may import and that imports nothing of ours; it holds
// no state and fsm itself does not use it. Each API keeps its own headers
// (content type, Retry-After rounding) and its own mapping of internal
// errors; the body is rendered here only.
package apierr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Codes of the contract's error table.
const (
	CodeInvalidAPIKey     = "invalid_api_key"
	CodePermissionDenied  = "permission_denied"
	CodeInvalidRequest    = "invalid_request_error"
	CodeRequestTooLarge   = "request_too_large"
	CodeModelNotFound     = "model_not_found"
	CodeRateLimitExceeded = "rate_limit_exceeded"
	CodeInsufficientQuota = "insufficient_quota"
	CodeUpstreamError     = "upstream_error"
	CodeUpstreamTimeout   = "upstream_timeout"
	CodeServerError       = "server_error"
	CodeNotFound          = "not_found"
	CodeMethodNotAllowed  = "method_not_allowed"
	// CodeServiceUnavailable: the node cannot take requests for now (its
	// event outbox is full and the policy is to reject).
	CodeServiceUnavailable = "service_unavailable"
	// CodeStorageFull: the node's disk is below its reserve, so it cannot
	// record a request; another node, or this one once space is freed,
	// can.
	CodeStorageFull = "storage_full"
)

// Error is an error with what the client may see. Message, Type, Param and
// Code are public; Err is logged, never sent.
type Error struct {
	Status     int
	Type       string
	Code       string
	Param      string
	Message    string
	RetryAfter time.Duration
	// NoRetry tells clients not to retry (x-should-retry: false, which
	// the OpenAI SDKs follow): a retry cannot succeed soon.
	NoRetry bool
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error for one of the contract's codes with its status and
// type from the table.
func New(code, msg string) *Error {
	e := &Error{Code: code, Message: msg}
	e.Status, e.Type = lookup(code)
	return e
}

// Newf is New with formatting.
func Newf(code, format string, args ...any) *Error {
	return New(code, fmt.Sprintf(format, args...))
}

// Invalid is a 400 that names the offending parameter.
func Invalid(param, format string, args ...any) *Error {
	e := Newf(CodeInvalidRequest, format, args...)
	e.Param = param
	return e
}

// table maps codes to status and type; one table so every path answers the
// same way.
var table = map[string]struct {
	status int
	typ    string
}{
	CodeInvalidAPIKey:      {http.StatusUnauthorized, "invalid_request_error"},
	CodePermissionDenied:   {http.StatusForbidden, "permission_error"},
	CodeInvalidRequest:     {http.StatusBadRequest, "invalid_request_error"},
	CodeRequestTooLarge:    {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	CodeModelNotFound:      {http.StatusNotFound, "invalid_request_error"},
	CodeNotFound:           {http.StatusNotFound, "invalid_request_error"},
	CodeMethodNotAllowed:   {http.StatusMethodNotAllowed, "invalid_request_error"},
	CodeRateLimitExceeded:  {http.StatusTooManyRequests, "rate_limit_error"},
	CodeInsufficientQuota:  {http.StatusTooManyRequests, "insufficient_quota"},
	CodeUpstreamError:      {http.StatusBadGateway, "upstream_error"},
	CodeUpstreamTimeout:    {http.StatusGatewayTimeout, "upstream_error"},
	CodeServerError:        {http.StatusInternalServerError, "server_error"},
	CodeServiceUnavailable: {http.StatusServiceUnavailable, "server_error"},
	CodeStorageFull:        {http.StatusServiceUnavailable, "server_error"},
}

func lookup(code string) (int, string) {
	if t, ok := table[code]; ok {
		return t.status, t.typ
	}
	return http.StatusInternalServerError, "server_error"
}

// From turns any error into an *Error; unknown errors become a 500 whose
// message carries the request id so support can find the log line.
func From(err error, requestID string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Type: "server_error", Code: CodeServerError,
		Message: "internal error (request " + requestID + ")", Err: err}
}

// Body is the OpenAI error envelope.
type Body struct {
	Error BodyError `json:"error"`
}

// BodyError is the envelope's content; param and code are always present.
type BodyError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// Envelope renders e as the OpenAI error envelope.
func (e *Error) Envelope() Body {
	b := Body{Error: BodyError{Message: e.Message, Type: e.Type}}
	if e.Param != "" {
		p := e.Param
		b.Error.Param = &p
	}
	c := e.Code
	b.Error.Code = &c
	return b
}

// Write sends e as a JSON response.
func Write(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	if e.NoRetry {
		h.Set("x-should-retry", "false")
	}
	b, _ := json.Marshal(e.Envelope())
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(b, '\n'))
}

// StreamEvent renders e as the payload of one SSE data event, for errors
// after a stream's headers have gone out.
func StreamEvent(e *Error) []byte {
	b, _ := json.Marshal(e.Envelope())
	return b
}
