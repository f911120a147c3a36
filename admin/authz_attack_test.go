package admin

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

// The attacks of this file are made by a hostile org admin, a member and a
// signed-out caller against every admin operation and every read of the
// API and the console. Each asserts the refusal and, where a write is
// refused, that the state did not change.

// tenants is two orgs with their people and keys.
type tenants struct {
	e                   *testEnv
	mine, other         string // org ids
	myKey, otherKey     string
	oa, mem, ob         *consoleClient // org admin and member of mine, org admin of other
	oaID, memID, obID   string
	superID             string
	otherEvent, myEvent string // audit request ids
}

func newTenants(t *testing.T) *tenants {
	t.Helper()
	e := newEnv(t)
	x := &tenants{e: e, mine: e.defaultOrg()}
	x.other = e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "other"}).json(t)["id"].(string)
	x.myKey = e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "ours", "org_id": x.mine}).json(t)["id"].(string)
	x.otherKey = e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "theirs", "org_id": x.other}).json(t)["id"].(string)
	x.oa = e.consoleAs(t, fsm.RoleOrgAdmin, x.mine, "oa@example.com")
	x.mem = e.consoleAs(t, fsm.RoleMember, x.mine, "mem@example.com")
	x.ob = e.consoleAs(t, fsm.RoleOrgAdmin, x.other, "ob@example.com")
	st := e.fsm.View()
	for email, dst := range map[string]*string{"oa@example.com": &x.oaID, "mem@example.com": &x.memID, "ob@example.com": &x.obID, DefaultAdminEmail: &x.superID} {
		u, ok := st.UserByEmail(email)
		if !ok {
			t.Fatalf("no user %s", email)
		}
		*dst = u.ID
	}
	now := e.api.d.Now().UTC()
	x.myEvent, x.otherEvent = "req_mine", "req_theirs"
	for id, org := range map[string]string{x.myEvent: x.mine, x.otherEvent: x.other} {
		e.events.add(t, event.Event{RequestID: id, Time: now.Add(-time.Minute), OrgID: org, KeyID: "k-" + id,
			Capability: "llm", Model: "model-" + id, Status: 200, Usage: event.Usage{PromptTokens: 3}, CostMicros: 1500, Currency: "CNY"})
	}
	return x
}

// refused asserts a refusal with the contract's error envelope.
func refused(t *testing.T, r resp, status int, code string, what string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: %d, want %d: %s", what, r.status, status, r.body)
		return
	}
	if got, _ := r.errCode(t); got != code {
		t.Errorf("%s: code %q, want %q: %s", what, got, code, r.body)
	}
}

type attack struct {
	method, path string
	body         any
	status       int
	code         string
}

func (x *tenants) run(t *testing.T, who string, token string, attacks []attack) {
	t.Helper()
	for _, a := range attacks {
		refused(t, x.e.do(a.method, a.path, token, a.body), a.status, a.code, who+" "+a.method+" "+a.path)
	}
}

func TestAttackSignedOutCallerIsRefusedEverywhere(t *testing.T) {
	x := newTenants(t)
	paths := []struct{ method, path string }{
		{"GET", "/api/admin/orgs"}, {"POST", "/api/admin/orgs"}, {"GET", "/api/admin/orgs/" + x.mine},
		{"PATCH", "/api/admin/orgs/" + x.mine}, {"DELETE", "/api/admin/orgs/" + x.mine},
		{"GET", "/api/admin/orgs/" + x.mine + "/policy"}, {"PUT", "/api/admin/orgs/" + x.mine + "/policy"},
		{"GET", "/api/admin/users"}, {"POST", "/api/admin/users"}, {"PATCH", "/api/admin/users/" + x.superID},
		{"GET", "/api/admin/keys"}, {"POST", "/api/admin/keys"}, {"GET", "/api/admin/keys/" + x.myKey},
		{"PATCH", "/api/admin/keys/" + x.myKey}, {"DELETE", "/api/admin/keys/" + x.myKey},
		{"GET", "/api/admin/providers"}, {"POST", "/api/admin/providers"}, {"GET", "/api/admin/providers/dashscope"},
		{"PUT", "/api/admin/providers/dashscope"}, {"DELETE", "/api/admin/providers/dashscope"}, {"POST", "/api/admin/providers/dashscope/test"},
		{"GET", "/api/admin/routes"}, {"GET", "/api/admin/routes/m"}, {"PUT", "/api/admin/routes/m"}, {"DELETE", "/api/admin/routes/m"},
		{"GET", "/api/admin/prices"}, {"GET", "/api/admin/prices/m"}, {"PUT", "/api/admin/prices/m"}, {"DELETE", "/api/admin/prices/m"},
		{"GET", "/api/admin/cluster"}, {"DELETE", "/api/admin/cluster/members/n1"}, {"POST", "/api/admin/cluster/transfer-leader"},
		{"GET", "/api/admin/quotas"}, {"GET", "/api/admin/breakers"}, {"GET", "/api/admin/usage"}, {"GET", "/api/admin/audit"},
		{"GET", "/api/admin/audit/" + x.myEvent}, {"POST", "/api/admin/secrets/reseal"}, {"GET", "/api/admin/snapshot"},
		{"POST", "/api/admin/snapshot/restore"}, {"POST", "/api/auth/password"}, {"GET", "/api/auth/me"},
	}
	for _, p := range paths {
		refused(t, x.e.do(p.method, p.path, "", `{}`), 401, "unauthorized", "signed out "+p.method+" "+p.path)
		refused(t, x.e.do(p.method, p.path, "not-a-token", `{}`), 401, "unauthorized", "forged token "+p.method+" "+p.path)
	}
	anon := &consoleClient{t: t, e: x.e}
	for _, p := range []string{"/", "/keys", "/orgs", "/routing", "/alerts", "/usage", "/usage.csv", "/audit", "/audit/" + x.myEvent, "/cluster", "/cap/llm", "/password"} {
		if code, loc, _ := anon.req("GET", p, nil); code != 303 || !strings.HasPrefix(loc, "/login") {
			t.Errorf("console GET %s signed out: %d %s", p, code, loc)
		}
	}
	for _, p := range []string{"/keys", "/keys/" + x.myKey + "/revoke", "/orgs", "/orgs/" + x.mine + "/members", "/users/" + x.superID + "/disable",
		"/routing/routes", "/routing/prices", "/routing/policies/" + x.mine, "/alerts/" + x.mine, "/cap/llm/providers",
		"/cap/llm/providers/dashscope", "/cap/llm/providers/dashscope/test", "/cluster/transfer-leader", "/cluster/members/n1/remove", "/password"} {
		if code, loc, _ := anon.req("POST", p, url.Values{"name": {"x"}}); code != 303 || !strings.HasPrefix(loc, "/login") {
			t.Errorf("console POST %s signed out: %d %s", p, code, loc)
		}
	}
	if k := x.e.fsm.View().Key(x.myKey); k.RevokedAt != nil || k.Disabled {
		t.Fatal("a signed-out caller changed a key")
	}
}

func TestAttackOrgAdminCannotReachAnotherOrg(t *testing.T) {
	x := newTenants(t)
	before := x.e.fsm.View()
	tok := x.oa.token
	x.run(t, "org admin", tok, []attack{
		// Keys of another org do not exist for this admin, whatever the verb,
		// and a malformed body does not tell them apart either.
		{"GET", "/api/admin/keys/" + x.otherKey, nil, 404, "not_found"},
		{"PATCH", "/api/admin/keys/" + x.otherKey, map[string]any{"disabled": true}, 404, "not_found"},
		{"PATCH", "/api/admin/keys/" + x.otherKey, `{not json`, 404, "not_found"},
		{"DELETE", "/api/admin/keys/" + x.otherKey, nil, 404, "not_found"},
		// Nor can a key be made in, or moved to, another org.
		{"POST", "/api/admin/keys", map[string]any{"name": "x", "org_id": x.other}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"org_id": x.other}, 400, "invalid_request"},
		// Another org, its policy, its users.
		{"GET", "/api/admin/orgs/" + x.other, nil, 404, "not_found"},
		{"PATCH", "/api/admin/orgs/" + x.other, map[string]any{"name": "pwned"}, 404, "not_found"},
		{"DELETE", "/api/admin/orgs/" + x.other, nil, 403, "permission_denied"},
		{"GET", "/api/admin/orgs/" + x.other + "/policy", nil, 404, "not_found"},
		{"PUT", "/api/admin/orgs/" + x.other + "/policy", map[string]any{"own_keys": map[string]string{"dashscope": "sk-mine"}}, 404, "not_found"},
		{"PUT", "/api/admin/orgs/" + x.other + "/policy", `{not json`, 404, "not_found"},
		{"PATCH", "/api/admin/users/" + x.obID, map[string]any{"disabled": true}, 404, "not_found"},
		{"PATCH", "/api/admin/users/" + x.obID, map[string]any{"role": "member"}, 404, "not_found"},
		{"POST", "/api/admin/users", map[string]any{"email": "spy@example.com", "password": "a-long-password", "role": "org_admin", "org_id": x.other}, 400, "invalid_request"},
		{"POST", "/api/admin/users", map[string]any{"email": "spy@example.com", "password": "a-long-password", "role": "member", "org_id": x.other}, 400, "invalid_request"},
		// Usage and audit of another org.
		{"GET", "/api/admin/usage?org_id=" + x.other, nil, 403, "permission_denied"},
		{"GET", "/api/admin/audit?org_id=" + x.other, nil, 403, "permission_denied"},
		{"GET", "/api/admin/audit/" + x.otherEvent, nil, 404, "not_found"},
	})
	// The same message for an org that exists elsewhere and one that does
	// not: no oracle for other tenants' ids.
	a := x.e.do("POST", "/api/admin/keys", tok, map[string]any{"name": "x", "org_id": x.other})
	b := x.e.do("POST", "/api/admin/keys", tok, map[string]any{"name": "x", "org_id": "org_nope"})
	if strings.ReplaceAll(string(a.body), x.other, "ID") != strings.ReplaceAll(string(b.body), "org_nope", "ID") {
		t.Errorf("another org's id answers differently from an unknown one: %s vs %s", a.body, b.body)
	}
	// Lists filtered by another org's id come back empty, not theirs.
	for _, p := range []string{"/api/admin/keys?org_id=" + x.other, "/api/admin/users?org_id=" + x.other, "/api/admin/quotas?org_id=" + x.other} {
		r := x.e.do("GET", p, tok, nil)
		if r.status != 200 || len(r.json(t)["data"].([]any)) != 0 {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
	r := x.e.do("GET", "/api/admin/audit?key_id=k-"+x.otherEvent, tok, nil)
	if r.status != 200 || strings.Contains(string(r.body), x.otherEvent) {
		t.Errorf("audit by another org's key: %d %s", r.status, r.body)
	}
	r = x.e.do("GET", "/api/admin/usage?group_by=model", tok, nil)
	if r.status != 200 || strings.Contains(string(r.body), "model-"+x.otherEvent) {
		t.Errorf("usage shows another org's models: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/api/admin/keys", "/api/admin/users", "/api/admin/orgs", "/api/admin/audit"} {
		if r := x.e.do("GET", p, tok, nil); r.status != 200 || strings.Contains(string(r.body), x.other) ||
			strings.Contains(string(r.body), "theirs") || strings.Contains(string(r.body), "ob@example.com") {
			t.Errorf("%s shows another org: %d %s", p, r.status, r.body)
		}
	}
	after := x.e.fsm.View()
	if k := after.Key(x.otherKey); k.Version != before.Key(x.otherKey).Version || after.Key(x.myKey).OrgID != x.mine {
		t.Error("another org's key changed, or a key moved")
	}
	if after.Orgs[x.other].Name != "other" || after.Users[x.obID].Disabled || after.Policies[x.other] != nil {
		t.Error("another org changed")
	}
	if _, ok := after.UserByEmail("spy@example.com"); ok {
		t.Error("a user was created in another org")
	}
}

func TestAttackOrgAdminCannotEscalate(t *testing.T) {
	x := newTenants(t)
	tok := x.oa.token
	pw := "a-long-password"
	x.run(t, "org admin", tok, []attack{
		// Making a super admin, or making oneself or a member one.
		{"POST", "/api/admin/users", map[string]any{"email": "boss@example.com", "password": pw, "role": "super_admin"}, 403, "permission_denied"},
		{"POST", "/api/admin/users", map[string]any{"email": "boss@example.com", "password": pw, "role": "super_admin", "org_id": x.mine}, 403, "permission_denied"},
		{"POST", "/api/admin/users", map[string]any{"email": "boss@example.com", "password": pw, "role": "root", "org_id": x.mine}, 403, "permission_denied"},
		{"PATCH", "/api/admin/users/" + x.oaID, map[string]any{"role": "super_admin"}, 400, "invalid_request"},
		{"PATCH", "/api/admin/users/" + x.memID, map[string]any{"role": "super_admin"}, 403, "permission_denied"},
		// Touching the super admin.
		{"PATCH", "/api/admin/users/" + x.superID, map[string]any{"disabled": true}, 404, "not_found"},
		{"PATCH", "/api/admin/users/" + x.superID, map[string]any{"role": "member"}, 404, "not_found"},
		// Disabling oneself is refused (no lock-out by accident).
		{"PATCH", "/api/admin/users/" + x.oaID, map[string]any{"disabled": true}, 400, "invalid_request"},
		// Unknown fields are refused rather than ignored.
		{"PATCH", "/api/admin/users/" + x.memID, map[string]any{"password_hash": "$argon2id$x"}, 400, "invalid_request"},
		{"PATCH", "/api/admin/users/" + x.memID, map[string]any{"session_gen": 0}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"hash": strings.Repeat("0", 64)}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"revoked_at": nil}, 400, "invalid_request"},
		{"POST", "/api/admin/keys", map[string]any{"name": "x", "created_by": x.superID}, 400, "invalid_request"},
		// Everything that needs the super admin role.
		{"POST", "/api/admin/orgs", map[string]any{"name": "mine too"}, 403, "permission_denied"},
		{"DELETE", "/api/admin/orgs/" + x.mine, nil, 403, "permission_denied"},
		{"POST", "/api/admin/providers", map[string]any{"slug": "evil", "name": "evil", "base_url": "http://169.254.169.254"}, 403, "permission_denied"},
		{"PUT", "/api/admin/providers/dashscope", map[string]any{"base_url": "http://evil.example"}, 403, "permission_denied"},
		{"PUT", "/api/admin/providers/dashscope", `{not json`, 403, "permission_denied"},
		{"DELETE", "/api/admin/providers/dashscope", nil, 403, "permission_denied"},
		{"POST", "/api/admin/providers/dashscope/test", nil, 403, "permission_denied"},
		{"PUT", "/api/admin/routes/qwen-plus", map[string]any{"targets": []map[string]any{{"provider": "deepseek", "model": "deepseek-v4-pro"}}}, 403, "permission_denied"},
		{"DELETE", "/api/admin/routes/qwen-plus", nil, 403, "permission_denied"},
		{"PUT", "/api/admin/prices/qwen-plus", map[string]any{"prices": map[string]string{"prompt_per_1m_tokens": "0"}}, 403, "permission_denied"},
		{"DELETE", "/api/admin/prices/qwen-plus", nil, 403, "permission_denied"},
		{"DELETE", "/api/admin/cluster/members/n1", nil, 403, "permission_denied"},
		{"POST", "/api/admin/cluster/transfer-leader", map[string]any{}, 403, "permission_denied"},
		{"POST", "/api/admin/secrets/reseal", nil, 403, "permission_denied"},
		{"GET", "/api/admin/snapshot", nil, 403, "permission_denied"},
		{"POST", "/api/admin/snapshot/restore", "not a snapshot", 403, "permission_denied"},
	})
	st := x.e.fsm.View()
	if _, ok := st.UserByEmail("boss@example.com"); ok {
		t.Error("an org admin created a super admin")
	}
	if st.Users[x.oaID].Role != fsm.RoleOrgAdmin || st.Users[x.memID].Role != fsm.RoleMember || st.Users[x.superID].Disabled {
		t.Error("a role changed")
	}
	if _, ok := st.Providers["evil"]; ok || st.Providers["dashscope"].BaseURL == "http://evil.example" || len(st.Routes) != 0 {
		t.Error("an org admin changed providers or routes")
	}
	// An org admin may manage the org's admins and members: the line is
	// the super admin role, not the org admin's.
	if r := x.e.do("PATCH", "/api/admin/users/"+x.memID, tok, map[string]any{"role": "org_admin"}); r.status != 200 {
		t.Errorf("promote a member of one's own org: %d %s", r.status, r.body)
	}
}

func TestAttackMemberMayOnlyRead(t *testing.T) {
	x := newTenants(t)
	tok := x.mem.token
	pw := "a-long-password"
	x.run(t, "member", tok, []attack{
		{"POST", "/api/admin/keys", map[string]any{"name": "x"}, 403, "permission_denied"},
		{"POST", "/api/admin/keys", map[string]any{"name": "x", "org_id": x.mine}, 403, "permission_denied"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"disabled": true}, 403, "permission_denied"},
		{"PATCH", "/api/admin/keys/" + x.myKey, `{not json`, 403, "permission_denied"},
		{"DELETE", "/api/admin/keys/" + x.myKey, nil, 403, "permission_denied"},
		{"DELETE", "/api/admin/keys/" + x.otherKey, nil, 404, "not_found"},
		{"PATCH", "/api/admin/orgs/" + x.mine, map[string]any{"name": "mine now"}, 403, "permission_denied"},
		{"PUT", "/api/admin/orgs/" + x.mine + "/policy", map[string]any{"strategy": "weighted"}, 403, "permission_denied"},
		{"PUT", "/api/admin/orgs/" + x.mine + "/policy", map[string]any{"own_keys": map[string]string{"dashscope": "sk-member"}}, 403, "permission_denied"},
		{"POST", "/api/admin/users", map[string]any{"email": "friend@example.com", "password": pw, "role": "member"}, 403, "permission_denied"},
		{"POST", "/api/admin/users", map[string]any{"email": "friend@example.com", "password": pw, "role": "org_admin", "org_id": x.mine}, 403, "permission_denied"},
		{"PATCH", "/api/admin/users/" + x.memID, map[string]any{"role": "org_admin"}, 403, "permission_denied"},
		{"PATCH", "/api/admin/users/" + x.oaID, map[string]any{"disabled": true}, 403, "permission_denied"},
		{"POST", "/api/admin/orgs", map[string]any{"name": "x"}, 403, "permission_denied"},
		{"POST", "/api/admin/providers/dashscope/test", nil, 403, "permission_denied"},
		{"GET", "/api/admin/usage?org_id=" + x.other, nil, 403, "permission_denied"},
		{"GET", "/api/admin/audit/" + x.otherEvent, nil, 404, "not_found"},
		{"GET", "/api/admin/orgs/" + x.other + "/policy", nil, 404, "not_found"},
	})
	st := x.e.fsm.View()
	if st.Key(x.myKey).Disabled || st.Key(x.myKey).RevokedAt != nil || st.Users[x.memID].Role != fsm.RoleMember || st.Users[x.oaID].Disabled {
		t.Error("a member changed something")
	}
	if _, ok := st.UserByEmail("friend@example.com"); ok {
		t.Error("a member added a user")
	}
	// A member reads the org's own records.
	for _, p := range []string{"/api/admin/keys/" + x.myKey, "/api/admin/orgs/" + x.mine, "/api/admin/orgs/" + x.mine + "/policy", "/api/admin/audit/" + x.myEvent} {
		if r := x.e.do("GET", p, tok, nil); r.status != 200 {
			t.Errorf("member reads %s: %d %s", p, r.status, r.body)
		}
	}
}

func TestAttackPasswordsAreOnlyOneOwn(t *testing.T) {
	x := newTenants(t)
	// The password endpoint acts on the caller only and wants the current
	// password: a stolen session alone cannot take the account over.
	refused(t, x.e.do("POST", "/api/auth/password", x.oa.token, map[string]any{"current_password": "guess-guess-guess", "new_password": "taken-over-now"}),
		401, "invalid_credentials", "password change with a wrong current password")
	refused(t, x.e.do("POST", "/api/auth/password", x.oa.token, map[string]any{"current_password": "console-test-password", "new_password": "short"}),
		400, "invalid_request", "a too short new password")
	refused(t, x.e.do("POST", "/api/auth/password", x.oa.token, map[string]any{"current_password": "console-test-password", "new_password": "x", "user_id": x.memID}),
		400, "invalid_request", "a password change naming another user")
	// A user's password, email and org are not attributes an admin sets
	// on them: a PATCH naming them is refused, not answered 200 while
	// nothing changed (an admin "resetting" a leaked password would
	// believe it done), and a user never moves to another org.
	x.run(t, "org admin", x.oa.token, []attack{
		{"PATCH", "/api/admin/users/" + x.memID, map[string]any{"password": "reset-by-admin-1"}, 400, "invalid_request"},
		{"PATCH", "/api/admin/users/" + x.memID, map[string]any{"email": "ob@example.com"}, 400, "invalid_request"},
		{"PATCH", "/api/admin/users/" + x.memID, map[string]any{"org_id": x.other}, 400, "invalid_request"},
		{"PATCH", "/api/admin/users/" + x.obID, map[string]any{"password": "reset-by-admin-1"}, 404, "not_found"},
	})
	x.run(t, "super admin", x.e.token, []attack{
		{"PATCH", "/api/admin/users/" + x.memID, map[string]any{"org_id": x.other}, 400, "invalid_request"},
		{"PATCH", "/api/admin/users/" + x.memID, map[string]any{"password": "reset-by-admin-1"}, 400, "invalid_request"},
	})
	// Naming the values the user already has changes nothing and passes.
	if r := x.e.do("PATCH", "/api/admin/users/"+x.memID, x.oa.token, map[string]any{"email": "mem@example.com", "org_id": x.mine, "name": "Mem"}); r.status != 200 {
		t.Errorf("a PATCH repeating the user's email and org: %d %s", r.status, r.body)
	}
	if u := x.e.fsm.View().Users[x.memID]; u.OrgID != x.mine || u.Email != "mem@example.com" {
		t.Errorf("the user moved: %+v", u)
	}
	x.e.login("mem@example.com", "console-test-password")
	x.e.login("ob@example.com", "console-test-password")
	if r := x.e.do("POST", "/api/auth/login", "", map[string]string{"email": "mem@example.com", "password": "reset-by-admin-1"}); r.status != 401 {
		t.Errorf("the admin-set password works: %d", r.status)
	}
}

func TestAttackValidationCannotBeBypassed(t *testing.T) {
	x := newTenants(t)
	tok := x.oa.token
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	pol := "/api/admin/orgs/" + x.mine + "/policy"
	x.run(t, "org admin", tok, []attack{
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"limits": map[string]any{"rpm": -1}}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"limits": map[string]any{"concurrency": -5}}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"limits": map[string]any{"budget": "-5"}}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"limits": map[string]any{"budget": "99999999999999999999"}}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"limits": map[string]any{"rpm": 1e300}}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"limits": map[string]any{"budget_period": "forever"}}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"scopes": []string{"admin"}}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"scopes": []string{}}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"name": strings.Repeat("n", 129)}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"bogus": 1}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, `{"name":"a"}{"name":"b"}`, 400, "invalid_request"},
		{"POST", "/api/admin/keys", map[string]any{"name": "x", "expires_at": past}, 400, "invalid_request"},
		{"POST", "/api/admin/keys", map[string]any{"name": "   "}, 400, "invalid_request"},
		{"POST", "/api/admin/keys", strings.Repeat(" ", 2<<20) + "{}", 413, "request_too_large"},
		{"PUT", pol, map[string]any{"breaker": map[string]any{"consecutive_failures": -1}}, 400, "invalid_request"},
		{"PUT", pol, map[string]any{"breaker": map[string]any{"error_rate_percent": 101}}, 400, "invalid_request"},
		{"PUT", pol, map[string]any{"alerts": map[string]any{"budget_thresholds": []int{0}}}, 400, "invalid_request"},
		{"PUT", pol, map[string]any{"alerts": map[string]any{"webhook_url": "file:///etc/passwd"}}, 400, "invalid_request"},
		{"PUT", pol, map[string]any{"own_keys": map[string]string{"no-such-provider": "sk"}}, 400, "invalid_request"},
		{"PUT", pol, map[string]any{"overflow": map[string]any{"mode": "spill"}}, 400, "invalid_request"},
		{"PUT", pol, map[string]any{"strategy": "random"}, 400, "invalid_request"},
		{"PUT", pol, map[string]any{"org_id": x.other}, 400, "invalid_request"},
		{"PATCH", "/api/admin/orgs/" + x.mine, map[string]any{"name": ""}, 400, "invalid_request"},
		{"PATCH", "/api/admin/orgs/" + x.mine, map[string]any{"id": x.other}, 400, "invalid_request"},
	})
	if k := x.e.fsm.View().Key(x.myKey); k.Limits != (fsm.Limits{}) || k.Name != "ours" || len(k.Scopes) == 0 {
		t.Errorf("a refused patch changed the key: %+v", k)
	}
	if x.e.fsm.View().Policies[x.mine] != nil {
		t.Error("a refused patch wrote a policy")
	}
}

// An org admin may not widen the providers its org may use: not through
// allowed_providers, allocation, limits or partition behaviour, and not
// through an overflow pool outside the providers the super admin allowed
// (the data plane appends the pool to every plan, so a spill there would
// call a provider the org was never granted, on the system's key).
func TestAttackOrgAdminCannotWidenItsGrant(t *testing.T) {
	x := newTenants(t)
	pol := "/api/admin/orgs/" + x.mine + "/policy"
	if r := x.e.do("PUT", pol, x.e.token, map[string]any{"allowed_providers": []string{"dashscope"}, "limits": map[string]any{"rpm": 100, "budget": "100"},
		"allocation": map[string]any{"dashscope": map[string]any{"share_percent": 50}}}); r.status != 200 {
		t.Fatalf("super admin sets the grant: %d %s", r.status, r.body)
	}
	x.run(t, "org admin", x.oa.token, []attack{
		{"PUT", pol, map[string]any{"allowed_providers": []string{"dashscope", "deepseek"}}, 403, "permission_denied"},
		{"PUT", pol, map[string]any{"allowed_providers": []string{}}, 403, "permission_denied"},
		{"PUT", pol, map[string]any{"limits": map[string]any{"rpm": 0}}, 403, "permission_denied"},
		{"PUT", pol, map[string]any{"limits": map[string]any{"budget": "null"}}, 403, "permission_denied"},
		{"PUT", pol, map[string]any{"allocation": map[string]any{}}, 403, "permission_denied"},
		{"PUT", pol, map[string]any{"partition": "fail_open", "fail_open_seconds": 3600}, 403, "permission_denied"},
		{"PUT", pol, map[string]any{"overflow": map[string]any{"mode": "spill", "pool": "deepseek"}}, 403, "permission_denied"},
	})
	// The console's policy form is the same operation.
	code, _, _ := x.oa.req("POST", "/routing/policies/"+x.mine, url.Values{"csrf": {x.oa.csrf()}, "overflow_mode": {"spill"}, "overflow_pool": {"deepseek"}})
	if code != 403 {
		t.Errorf("console: spill to a provider the org may not use: %d", code)
	}
	p := x.e.fsm.View().Policies[x.mine]
	if p.Overflow != (fsm.Overflow{}) || p.Limits.RPM != 100 || len(p.AllowedProviders) != 1 {
		t.Fatalf("the grant changed: %+v", p)
	}
	// What is the org's to tune stays its own: a spill to an allowed
	// provider, its breaker, its own keys.
	if r := x.e.do("PUT", pol, x.oa.token, map[string]any{"overflow": map[string]any{"mode": "spill", "pool": "dashscope"},
		"breaker": map[string]any{"consecutive_failures": 3}, "own_keys": map[string]string{"deepseek": "sk-org-own-secret"}}); r.status != 200 {
		t.Fatalf("org admin tunes its policy: %d %s", r.status, r.body)
	}
	// The org's own key is never shown back, to anyone.
	for _, tok := range []string{x.oa.token, x.mem.token, x.e.token} {
		if r := x.e.do("GET", pol, tok, nil); r.status != 200 || strings.Contains(string(r.body), "sk-org-own-secret") {
			t.Errorf("policy read: %d %s", r.status, r.body)
		}
	}
	// The super admin may grant the spill.
	if r := x.e.do("PUT", pol, x.e.token, map[string]any{"overflow": map[string]any{"mode": "spill", "pool": "deepseek"}}); r.status != 200 {
		t.Fatalf("super admin grants a spill: %d %s", r.status, r.body)
	}
}

// The console's forms are the same operations: the same refusals, shown
// on the page with the status.
func TestAttackConsoleFormsAreRefused(t *testing.T) {
	x := newTenants(t)
	post := func(c *consoleClient, path string, v url.Values) int {
		t.Helper()
		if v == nil {
			v = url.Values{}
		}
		v.Set("csrf", c.csrf())
		code, _, _ := c.req("POST", path, v)
		return code
	}
	pw := "a-long-password"
	for _, tc := range []struct {
		who  string
		c    *consoleClient
		path string
		form url.Values
		want int
	}{
		{"org admin", x.oa, "/keys", url.Values{"name": {"x"}, "org_id": {x.other}}, 400},
		{"org admin", x.oa, "/keys/" + x.otherKey + "/revoke", nil, 404},
		{"org admin", x.oa, "/keys/" + x.otherKey + "/disable", nil, 404},
		{"org admin", x.oa, "/keys/" + x.otherKey + "/enable", nil, 404},
		{"org admin", x.oa, "/keys/" + x.myKey + "/unrevoke", nil, 404},
		{"org admin", x.oa, "/routing/policies/" + x.other, url.Values{"strategy": {"weighted"}}, 404},
		{"org admin", x.oa, "/alerts/" + x.other, url.Values{"webhook_url": {"https://evil.example/hook"}}, 404},
		{"org admin", x.oa, "/orgs/" + x.other + "/members", url.Values{"email": {"spy@example.com"}, "password": {pw}, "role": {"org_admin"}}, 400},
		{"org admin", x.oa, "/orgs/" + x.mine + "/members", url.Values{"email": {"boss@example.com"}, "password": {pw}, "role": {"super_admin"}}, 403},
		{"org admin", x.oa, "/users/" + x.obID + "/disable", nil, 404},
		{"org admin", x.oa, "/users/" + x.superID + "/disable", nil, 404},
		{"org admin", x.oa, "/users/" + x.oaID + "/disable", nil, 400},
		{"org admin", x.oa, "/orgs", url.Values{"name": {"x"}}, 403},
		{"org admin", x.oa, "/cap/llm/providers", url.Values{"slug": {"evil"}, "name": {"evil"}, "base_url": {"http://169.254.169.254"}}, 403},
		{"org admin", x.oa, "/cap/llm/providers/dashscope", url.Values{"name": {"pwned"}, "base_url": {"http://evil.example"}}, 403},
		{"org admin", x.oa, "/cap/llm/providers/dashscope/models", url.Values{"open": {"qwen-plus"}}, 403},
		{"org admin", x.oa, "/cap/llm/providers/dashscope/test", nil, 403},
		{"org admin", x.oa, "/routing/routes", url.Values{"model": {"qwen-plus"}, "targets": {"deepseek:deepseek-v4-pro"}}, 403},
		{"org admin", x.oa, "/routing/prices", url.Values{"model": {"qwen-plus"}, "prompt_per_1m_tokens": {"0"}}, 403},
		{"org admin", x.oa, "/cluster/transfer-leader", url.Values{"node_id": {"n1"}}, 403},
		{"org admin", x.oa, "/cluster/members/n1/remove", nil, 403},
		{"member", x.mem, "/keys", url.Values{"name": {"x"}}, 403},
		{"member", x.mem, "/keys/" + x.myKey + "/revoke", nil, 403},
		{"member", x.mem, "/keys/" + x.myKey + "/disable", nil, 403},
		{"member", x.mem, "/routing/policies/" + x.mine, url.Values{"strategy": {"weighted"}}, 403},
		{"member", x.mem, "/alerts/" + x.mine, url.Values{"webhook_url": {"https://evil.example/hook"}}, 403},
		{"member", x.mem, "/orgs/" + x.mine + "/members", url.Values{"email": {"friend@example.com"}, "password": {pw}, "role": {"member"}}, 403},
		{"member", x.mem, "/users/" + x.oaID + "/disable", nil, 403},
		{"member", x.mem, "/cap/llm/providers/dashscope/own-key", url.Values{"own_key": {"sk-member"}}, 403},
	} {
		if code := post(tc.c, tc.path, tc.form); code != tc.want {
			t.Errorf("%s POST %s: %d, want %d", tc.who, tc.path, code, tc.want)
		}
	}
	st := x.e.fsm.View()
	if k := st.Key(x.otherKey); k.Disabled || k.RevokedAt != nil {
		t.Error("another org's key changed")
	}
	if k := st.Key(x.myKey); k.Disabled || k.RevokedAt != nil {
		t.Error("a member changed a key")
	}
	if len(st.Policies) != 0 || st.Users[x.obID].Disabled || st.Users[x.superID].Disabled || st.Users[x.oaID].Disabled {
		t.Error("a refused form wrote a policy or disabled a user")
	}
	for _, email := range []string{"spy@example.com", "boss@example.com", "friend@example.com"} {
		if _, ok := st.UserByEmail(email); ok {
			t.Errorf("%s was created", email)
		}
	}
	if _, ok := st.Providers["evil"]; ok || st.Providers["dashscope"].Name == "pwned" || len(st.Routes) != 0 || len(st.Prices) != 0 {
		t.Error("an org admin changed providers, routes or prices")
	}
	// The console's pages show the org's own records only.
	for _, p := range []string{"/keys", "/keys?org=" + x.other, "/orgs", "/routing", "/alerts", "/audit", "/", "/usage"} {
		code, _, page := x.oa.req("GET", p, nil)
		if code != 200 || strings.Contains(page, x.other) || strings.Contains(page, "theirs") || strings.Contains(page, "ob@example.com") ||
			strings.Contains(page, x.otherEvent) {
			t.Errorf("org admin's %s shows another org (or fails: %d)", p, code)
		}
	}
	if code, _, _ := x.oa.req("GET", "/audit/"+x.otherEvent, nil); code != 404 {
		t.Errorf("another org's audit event: %d", code)
	}
	if code, _, body := x.oa.req("GET", "/usage.csv?org_id="+x.other, nil); code == 200 && strings.Contains(body, x.other) {
		t.Errorf("usage CSV of another org: %d", code)
	}
}

// A super admin's path and body must agree: a body never renames what
// the path names.
func TestAttackPathAndBodyIDsMustAgree(t *testing.T) {
	x := newTenants(t)
	x.run(t, "super admin", x.e.token, []attack{
		{"PUT", "/api/admin/providers/dashscope", map[string]any{"slug": "deepseek"}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"org_id": x.other}, 400, "invalid_request"},
		{"PATCH", "/api/admin/keys/" + x.myKey, map[string]any{"id": x.otherKey}, 400, "invalid_request"},
		{"PATCH", "/api/admin/orgs/" + x.mine, map[string]any{"id": x.other}, 400, "invalid_request"},
		{"PUT", "/api/admin/orgs/" + x.mine + "/policy", map[string]any{"org_id": x.other}, 400, "invalid_request"},
		{"PUT", "/api/admin/routes/qwen-plus", map[string]any{"model": "deepseek-v4-pro", "targets": []map[string]any{{"provider": "dashscope", "model": "qwen-plus"}}}, 400, "invalid_request"},
		{"PUT", "/api/admin/prices/qwen-plus", map[string]any{"model": "deepseek-v4-pro", "prices": map[string]string{"prompt_per_1m_tokens": "1"}}, 400, "invalid_request"},
		{"PUT", "/api/admin/routes/qwen-plus", map[string]any{"targets": []map[string]any{{"provider": "nope", "model": "x"}}}, 400, "invalid_request"},
		{"PUT", "/api/admin/routes/qwen-plus", map[string]any{"targets": []map[string]any{{"provider": "dashscope", "model": "qwen-plus", "weight": -1}}}, 400, "invalid_request"},
		{"PUT", "/api/admin/prices/qwen-plus", map[string]any{"prices": map[string]string{"prompt_per_1m_tokens": "-1"}}, 400, "invalid_request"},
		{"PUT", "/api/admin/prices/qwen-plus", map[string]any{"prices": map[string]string{"prompt_per_1m_tokens": "99999999999999999999"}}, 400, "invalid_request"},
		{"POST", "/api/admin/cluster/transfer-leader", map[string]any{"timeout": "-1s"}, 400, "invalid_request"},
		{"POST", "/api/admin/cluster/transfer-leader", map[string]any{"timeout": "1000h"}, 400, "invalid_request"},
	})
	st := x.e.fsm.View()
	if st.Key(x.myKey).OrgID != x.mine || st.Providers["dashscope"] == nil || len(st.Routes) != 0 || len(st.Prices) != 0 {
		t.Error("a refused write changed the state")
	}
}

// A session carries no role: a demoted or disabled user's token loses
// what the user lost at once.
func TestAttackSessionsDoNotKeepARole(t *testing.T) {
	x := newTenants(t)
	if r := x.e.do("PATCH", "/api/admin/users/"+x.oaID, x.e.token, map[string]any{"role": "member"}); r.status != 200 {
		t.Fatalf("demote: %d %s", r.status, r.body)
	}
	refused(t, x.e.do("POST", "/api/admin/keys", x.oa.token, map[string]any{"name": "x"}), 403, "permission_denied", "a demoted admin's old session")
	refused(t, x.e.do("PATCH", "/api/admin/users/"+x.memID, x.oa.token, map[string]any{"disabled": true}), 403, "permission_denied", "a demoted admin's old session")
	if r := x.e.do("PATCH", "/api/admin/users/"+x.obID, x.e.token, map[string]any{"disabled": true}); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	refused(t, x.e.do("GET", "/api/admin/keys", x.ob.token, nil), 401, "unauthorized", "a disabled user's old session")
	if code, loc, _ := x.ob.req("GET", "/keys", nil); code != 303 || !strings.HasPrefix(loc, "/login") {
		t.Errorf("a disabled user's console session: %d %s", code, loc)
	}
}

// An org's time zone draws its budget periods: a daily budget is counted
// per calendar day of the org's zone, so whoever may move the zone may
// start a new day at will (at one instant the date differs by up to two
// days across zones) and spend the budget the super admin granted again
// and again. Only a super admin changes it; an org admin still renames
// the org.
func TestAttackOrgAdminCannotResetBudgetsByTimeZone(t *testing.T) {
	x := newTenants(t)
	now := time.Now()
	east, _ := time.LoadLocation("Pacific/Kiritimati")
	west, _ := time.LoadLocation("Pacific/Pago_Pago")
	if fsm.BudgetPeriodKey(fsm.PeriodDaily, now, east) == fsm.BudgetPeriodKey(fsm.PeriodDaily, now, west) {
		t.Fatal("the premise: the same instant falls on different days in these zones")
	}
	org := "/api/admin/orgs/" + x.mine
	if r := x.e.do("PUT", org+"/policy", x.e.token, map[string]any{"limits": map[string]any{"budget": "10", "budget_period": "daily"}}); r.status != 200 {
		t.Fatalf("super admin grants a daily budget: %d %s", r.status, r.body)
	}
	x.run(t, "org admin", x.oa.token, []attack{
		{"PATCH", org, map[string]any{"time_zone": "Pacific/Kiritimati"}, 403, "permission_denied"},
		{"PATCH", org, map[string]any{"name": "renamed", "time_zone": "Pacific/Pago_Pago"}, 403, "permission_denied"},
	})
	if o := x.e.fsm.View().Orgs[x.mine]; o.TimeZone != "" || o.Name == "renamed" {
		t.Fatalf("the org changed: %+v", o)
	}
	if r := x.e.do("PATCH", org, x.oa.token, map[string]any{"name": "renamed", "time_zone": ""}); r.status != 200 {
		t.Errorf("org admin renames its org (naming the zone it has): %d %s", r.status, r.body)
	}
	refused(t, x.e.do("PATCH", org, x.e.token, map[string]any{"time_zone": "Mars/Olympus"}), 400, "invalid_request", "super admin: unknown zone")
	if r := x.e.do("PATCH", org, x.e.token, map[string]any{"time_zone": "Europe/Berlin"}); r.status != 200 {
		t.Errorf("super admin moves the zone: %d %s", r.status, r.body)
	}
}

// Secrets never come back: a provider's key and an org's own key are
// shown as "is set" to everyone, super admins included, in the API and
// the console.
func TestAttackSecretsAreNeverShown(t *testing.T) {
	x := newTenants(t)
	if r := x.e.do("PUT", "/api/admin/providers/dashscope", x.e.token, map[string]any{"api_key": "sk-provider-secret-1"}); r.status != 200 {
		t.Fatalf("set provider key: %d %s", r.status, r.body)
	}
	if r := x.e.do("PUT", "/api/admin/orgs/"+x.other+"/policy", x.ob.token, map[string]any{"own_keys": map[string]string{"deepseek": "sk-their-own-key-1"},
		"alerts": map[string]any{"secret": "whsec-their-secret-1"}}); r.status != 200 {
		t.Fatalf("set own key: %d %s", r.status, r.body)
	}
	secrets := []string{"sk-provider-secret-1", "sk-their-own-key-1", "whsec-their-secret-1"}
	leaks := func(body string) bool {
		for _, s := range secrets {
			if strings.Contains(body, s) {
				return true
			}
		}
		return false
	}
	for _, tok := range []string{x.e.token, x.oa.token, x.mem.token, x.ob.token} {
		for _, p := range []string{"/api/admin/providers", "/api/admin/providers/dashscope", "/api/admin/orgs/" + x.other + "/policy", "/api/admin/orgs/" + x.mine + "/policy"} {
			if r := x.e.do("GET", p, tok, nil); leaks(string(r.body)) {
				t.Errorf("GET %s shows a secret: %s", p, r.body)
			}
		}
	}
	for _, c := range []*consoleClient{x.oa, x.mem, x.ob} {
		for _, p := range []string{"/cap/llm", "/routing", "/alerts"} {
			if _, _, page := c.req("GET", p, nil); leaks(page) {
				t.Errorf("console %s shows a secret", p)
			}
		}
	}
}
