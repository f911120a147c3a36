package admin

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
)

func TestUsersAPIRoles(t *testing.T) {
	e := newEnv(t)
	def := e.defaultOrg()
	other := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "other"}).json(t)["id"].(string)
	add := func(tok string, body map[string]any) resp {
		return e.do("POST", "/api/admin/users", tok, body)
	}
	// The super admin adds an org admin; the org admin adds members to its
	// own org only, and no super admins.
	if r := add(e.token, map[string]any{"email": "OA@Example.com", "password": "org-admin-password", "role": "org_admin", "org_id": def}); r.status != 201 {
		t.Fatalf("super adds org admin: %d %s", r.status, r.body)
	}
	oa := e.login("oa@example.com", "org-admin-password")
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"email":"m1@example.com","password":"member-password","role":"member"}`, 201},
		{`{"email":"m2@example.com","password":"member-password","role":"member","org_id":"` + other + `"}`, 400},
		{`{"email":"s2@example.com","password":"member-password","role":"super_admin"}`, 403},
		{`{"email":"m1@example.com","password":"member-password","role":"member"}`, 409},
		{`{"email":"m3@example.com","password":"short","role":"member"}`, 400},
	} {
		if r := e.do("POST", "/api/admin/users", oa, c.body); r.status != c.want {
			t.Errorf("org admin posts %s: %d, want %d (%s)", c.body, r.status, c.want, r.body)
		}
	}
	// Lists stay in the org.
	r := e.do("GET", "/api/admin/users", oa, nil)
	if strings.Contains(string(r.body), "admin@example.com") || !strings.Contains(string(r.body), "m1@example.com") {
		t.Fatalf("org admin's list: %s", r.body)
	}
	// A member writes nothing; a disabled user's sessions end.
	member := e.login("m1@example.com", "member-password")
	if r := add(member, map[string]any{"email": "m9@example.com", "password": "member-password", "role": "member"}); r.status != 403 {
		t.Fatalf("member adds a user: %d", r.status)
	}
	var m1 string
	for _, u := range e.fsm.View().Users {
		if u.Email == "m1@example.com" {
			m1 = u.ID
		}
	}
	if r := e.do("PATCH", "/api/admin/users/"+m1, oa, map[string]any{"disabled": true}); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/admin/keys", member, nil); r.status != 401 {
		t.Fatalf("a disabled user's session: %d", r.status)
	}
	if r := e.do("PATCH", "/api/admin/users/"+m1, oa, map[string]any{"role": "super_admin"}); r.status != 403 {
		t.Fatalf("org admin makes a super admin: %d", r.status)
	}
}

func TestConsoleOrgsPage(t *testing.T) {
	e := newEnv(t)
	def := e.defaultOrg()
	other := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "other-org"}).json(t)["id"].(string)
	oa := e.consoleAs(t, fsm.RoleOrgAdmin, def, "oa3@example.com")
	tok := oa.csrf()
	if _, _, page := oa.req("GET", "/orgs", nil); strings.Contains(page, "other-org") || !strings.Contains(page, "oa3@example.com") {
		t.Fatal("the org admin's orgs page shows another org, or not its own members")
	}
	if code, _, _ := oa.req("POST", "/orgs/"+def+"/members", url.Values{"csrf": {tok}, "email": {"new@example.com"}, "password": {"new-member-password"}, "role": {"member"}}); code != 303 {
		t.Fatalf("add member: %d", code)
	}
	if _, ok := e.fsm.View().UserByEmail("new@example.com"); !ok {
		t.Fatal("member not added")
	}
	if code, _, _ := oa.req("POST", "/orgs/"+other+"/members", url.Values{"csrf": {tok}, "email": {"x@example.com"}, "password": {"new-member-password"}, "role": {"member"}}); code != 400 {
		t.Fatalf("add member to another org: %d", code)
	}
	if code, _, _ := oa.req("POST", "/orgs", url.Values{"csrf": {tok}, "name": {"mine"}}); code != 403 {
		t.Fatalf("org admin creates an org: %d", code)
	}
}
