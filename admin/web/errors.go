package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/storage/diskguard"
)

// APIError is the error envelope's error, shared with the data plane
// (fsm/apierr): what the client should see, and Err, which is logged but
// never sent.
type APIError = apierr.Error

// BadRequest is a 400 about one parameter.
func BadRequest(param, msg string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_request", Param: param, Message: msg}
}

// Unauthorized is a 401.
func Unauthorized(msg string) *APIError {
	return &APIError{Status: http.StatusUnauthorized, Type: "authentication_error", Code: "unauthorized", Message: msg}
}

// Forbidden is a 403.
func Forbidden(msg string) *APIError {
	return &APIError{Status: http.StatusForbidden, Type: "permission_error", Code: "permission_denied", Message: msg}
}

// NotFound is a 404.
func NotFound(msg string) *APIError {
	return &APIError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found", Message: msg}
}

// ToAPIError maps any error to what the client sees: one table, so every
// handler answers the same way.
func ToAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var oe *ops.Error
	if errors.As(err, &oe) {
		return opsError(oe)
	}
	var fe *fsm.Error
	if errors.As(err, &fe) {
		msg := fe.Msg
		if fe.Field != "" {
			msg = fe.Field + ": " + fe.Msg
		}
		switch fe.Code {
		case fsm.CodeNotFound:
			return &APIError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found", Param: fe.Field, Message: msg}
		case fsm.CodeExpired:
			return &APIError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "write_timeout",
				Message: "the write did not reach the cluster's leader in time (" + fe.Msg + "); retry", Err: err}
		case fsm.CodeConflict:
			return &APIError{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict", Param: fe.Field, Message: msg}
		default:
			return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_request", Param: fe.Field, Message: msg}
		}
	}
	switch {
	case errors.Is(err, diskguard.ErrFull):
		return &APIError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "storage_full",
			Message: "this node's disk is below its reserve, so it takes no writes until space is freed; retry later or on another node",
			Err:     err, RetryAfter: 5 * time.Second}
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrTimeout):
		return &APIError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "cluster_unavailable",
			Message: "the cluster has no leader to commit this write right now; retry shortly", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &APIError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "write_timeout",
			Message: "the cluster did not confirm this write in time; it takes effect only if the leader took it before its deadline: read it back before retrying", Err: err}
	case errors.Is(err, cluster.ErrShutdown):
		return &APIError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "shutting_down",
			Message: "this node is shutting down; retry on another node", Err: err}
	}
	return &APIError{Status: http.StatusInternalServerError, Type: "server_error", Code: "server_error",
		Message: "internal error", Err: err}
}

// opsError is the API's answer to a refused operation.
func opsError(e *ops.Error) *APIError {
	ae := opsKindError(e)
	if e.Code != "" {
		ae.Code = e.Code
	}
	return ae
}

func opsKindError(e *ops.Error) *APIError {
	switch e.Kind {
	case ops.KindUnavailable:
		return &APIError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "service_unavailable", Param: e.Param, Message: e.Message, Err: e.Err}
	case ops.KindUnauthenticated:
		return &APIError{Status: http.StatusUnauthorized, Type: "authentication_error", Code: "unauthorized", Param: e.Param, Message: e.Message}
	case ops.KindNotFound:
		return &APIError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found", Param: e.Param, Message: e.Message}
	case ops.KindForbidden:
		return &APIError{Status: http.StatusForbidden, Type: "permission_error", Code: "permission_denied", Param: e.Param, Message: e.Message}
	case ops.KindConflict:
		return &APIError{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict", Param: e.Param, Message: e.Message}
	case ops.KindInvalid:
		return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_request", Param: e.Param, Message: e.Message}
	}
	return &APIError{Status: http.StatusInternalServerError, Type: "server_error", Code: "server_error", Message: "internal error", Err: e}
}

// WriteError renders err in the OpenAI envelope and logs what the client
// does not see.
func WriteError(w http.ResponseWriter, r *http.Request, lg *slog.Logger, err error) {
	ae := ToAPIError(err)
	// A full disk refuses every write; the disk guard has said so once.
	if ae.Status >= 500 && ae.Code != "storage_full" {
		lg.Error("admin request failed", "request_id", w.Header().Get("X-Request-Id"), "path", r.URL.Path, "err", err)
		if ae.Code == "server_error" {
			ae.Message = "internal error (request " + w.Header().Get("X-Request-Id") + ")"
		}
	}
	switch {
	case ae.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(ae.RetryAfter.Seconds())+1))
	case ae.Status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	WriteJSON(w, ae.Status, ae.Envelope())
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
