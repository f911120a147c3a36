package apierr

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"
)

func TestTable(t *testing.T) {
	for code, want := range map[string]int{
		CodeInvalidAPIKey: 401, CodePermissionDenied: 403, CodeInvalidRequest: 400, CodeRequestTooLarge: 413,
		CodeModelNotFound: 404, CodeRateLimitExceeded: 429, CodeInsufficientQuota: 429,
		CodeUpstreamError: 502, CodeUpstreamTimeout: 504, CodeServerError: 500,
		CodeServiceUnavailable: 503, CodeStorageFull: 503,
	} {
		if got := New(code, "m").Status; got != want {
			t.Errorf("%s: status %d, want %d", code, got, want)
		}
	}
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	e := New(CodeRateLimitExceeded, "slow down")
	e.RetryAfter = 1500 * time.Millisecond
	Write(rec, e)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("status %d retry-after %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := m["error"][k]; !ok {
			t.Fatalf("envelope lacks %q: %s", k, rec.Body)
		}
	}
	if m["error"]["code"] != "rate_limit_exceeded" || m["error"]["param"] != nil {
		t.Fatalf("envelope %s", rec.Body)
	}
}

func TestFromUnknown(t *testing.T) {
	e := From(errors.New("disk on fire"), "req_1")
	if e.Status != 500 || e.Message != "internal error (request req_1)" {
		t.Fatalf("%+v", e)
	}
}

// TestEnvelopeBytes pins the body both APIs send: param null when unset,
// code always a string, fields in the contract's order.
func TestEnvelopeBytes(t *testing.T) {
	for _, tc := range []struct {
		e    *Error
		want string
	}{
		{&Error{Message: "m", Type: "invalid_request_error", Code: "invalid_request"},
			`{"error":{"message":"m","type":"invalid_request_error","param":null,"code":"invalid_request"}}`},
		{&Error{Message: "name: <b> & co", Type: "invalid_request_error", Code: "conflict", Param: "name"},
			`{"error":{"message":"name: \u003cb\u003e \u0026 co","type":"invalid_request_error","param":"name","code":"conflict"}}`},
		{&Error{Message: "m", Type: "server_error"},
			`{"error":{"message":"m","type":"server_error","param":null,"code":""}}`},
	} {
		b, err := json.Marshal(tc.e.Envelope())
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("got %s, want %s", b, tc.want)
		}
	}
}
