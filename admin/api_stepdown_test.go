package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
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

func TestSessionCookieSecureBehindTLS(t *testing.T) {
	e := newEnv(t)
	for proto, secure := range map[string]bool{"": false, "https": true} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/auth/login", strings.NewReader(`{"email":"`+DefaultAdminEmail+`","password":"`+DefaultAdminPassword+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		c := res.Header.Get("Set-Cookie")
		if res.StatusCode != 200 || strings.Contains(c, "Secure") != secure || !strings.Contains(c, "HttpOnly") {
			t.Errorf("proto %q: %d %q", proto, res.StatusCode, c)
		}
	}
}

func TestSignInLockout(t *testing.T) {
	e := newEnv(t)
	try := func(pw string) resp {
		return e.do("POST", "/api/auth/login", "", map[string]any{"email": DefaultAdminEmail, "password": pw})
	}
	for i := range maxFailures {
		if r := try("wrong-password"); r.status != 401 {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	r := try(DefaultAdminPassword)
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("the right password while locked out: %d %q", r.status, r.header.Get("Retry-After"))
	}
	if code, _ := r.errCode(t); code != "too_many_attempts" {
		t.Fatalf("code %q", code)
	}
}
