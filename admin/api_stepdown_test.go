package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestStepDownOnlyFromLoopback(t *testing.T) {
	e := newEnv(t)
	for remote, want := range map[string]int{"10.1.2.3:4000": 403, "127.0.0.1:4000": 200, "[::1]:4000": 200} {
		req := httptest.NewRequest(http.MethodPost, "/api/cluster/step-down", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		e.api.Handler().ServeHTTP(rec, req)
		// A single node leads and has no one to hand over to: the
		// transfer itself fails, but the call was let through.
		if got := rec.Code; (want == 403) != (got == 403) {
			t.Errorf("%s: %d %s", remote, got, rec.Body)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/api/cluster/step-down", nil)
	req.RemoteAddr, req.Header = "127.0.0.1:1", http.Header{"X-Forwarded-For": {"10.1.2.3"}}
	rec := httptest.NewRecorder()
	e.api.Handler().ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Fatalf("through a proxy: %d", rec.Code)
	}
}
