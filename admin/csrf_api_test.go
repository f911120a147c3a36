package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
)

// TestCookieWritesMustComeFromThisSite: another site's page can make a
// browser post text/plain (no preflight) with the session cookie; an API
// write authenticated by the cookie alone is refused unless the browser
// says it came from this site (issue 18 item 10). Bearer tokens and
// non-browser clients are unaffected.
func TestCookieWritesMustComeFromThisSite(t *testing.T) {
	e := newEnv(t)
	post := func(hdr map[string]string, cookie bool) int {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/admin/keys", strings.NewReader(`{"name":"csrf"}`))
		req.Header.Set("Content-Type", "text/plain")
		if cookie {
			req.AddCookie(&http.Cookie{Name: SessionCookie, Value: e.token})
		} else {
			req.Header.Set("Authorization", "Bearer "+e.token)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	host := strings.TrimPrefix(e.srv.URL, "http://")
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		cookie bool
		want   int
	}{
		{"cross-site fetch metadata", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, true, 403},
		{"same-site but another origin", map[string]string{"Sec-Fetch-Site": "same-site"}, true, 403},
		{"foreign Origin, no fetch metadata", map[string]string{"Origin": "https://evil.example"}, true, 403},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}, true, 201},
		{"Origin of this host", map[string]string{"Origin": "http://" + host}, true, 201},
		{"no browser headers", nil, true, 201},
		{"bearer from anywhere", map[string]string{"Sec-Fetch-Site": "cross-site"}, false, 201},
	} {
		if got := post(tc.hdr, tc.cookie); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestClusterAddressesAreForSuperAdmins: org admins and members see no
// node addresses (issue 18 item 13).
func TestClusterAddressesAreForSuperAdmins(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/api/admin/cluster", e.token, nil); r.status != 200 {
		t.Fatalf("super admin: %d", r.status)
	}
	for _, role := range []string{fsm.RoleOrgAdmin, fsm.RoleMember} {
		c := e.consoleAs(t, role, e.defaultOrg(), role+"-cluster@example.com")
		if r := e.do("GET", "/api/admin/cluster", c.token, nil); r.status != 403 {
			t.Fatalf("%s: %d %s, want 403", role, r.status, r.body)
		}
	}
}

// TestProviderAddressesAreForSuperAdmins: org admins and members see a
// provider's name, models and capabilities, not its base URL (issue 18
// item 13).
func TestProviderAddressesAreForSuperAdmins(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/api/admin/providers/dashscope", e.token, nil); r.status != 200 || r.json(t)["base_url"] == "" {
		t.Fatalf("super admin: %d %s", r.status, r.body)
	}
	for _, role := range []string{fsm.RoleOrgAdmin, fsm.RoleMember} {
		c := e.consoleAs(t, role, e.defaultOrg(), role+"-providers@example.com")
		one := e.do("GET", "/api/admin/providers/dashscope", c.token, nil)
		all := e.do("GET", "/api/admin/providers", c.token, nil)
		if one.status != 200 || one.json(t)["base_url"] != "" || strings.Contains(string(all.body), "https://") {
			t.Fatalf("%s sees provider addresses: %s / %s", role, one.body, all.body)
		}
	}
}
