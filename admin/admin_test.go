package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/cluster/clustertest"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// testEnv is a single-node cluster with the admin API in front of it.
type testEnv struct {
	t     testing.TB
	srv   *httptest.Server
	api   *Server
	node  *cluster.Node
	fsm   *fsm.FSM
	keys  *Keyring
	token string // the super admin's
	// events are what the usage and audit endpoints read.
	events *memEvents
}

// newEnv starts the node and the admin API; tune adjusts their
// configuration before they start.
func newEnv(t testing.TB, tune ...func(*cluster.Config, *Deps)) *testEnv {
	t.Helper()
	addr := clustertest.FreeAddr(t)
	cfg := cluster.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.RaftAddr = "n1", t.TempDir(), addr
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	var deps Deps
	for _, fn := range tune {
		fn(&cfg, &deps)
	}
	f := fsm.New()
	node, err := cluster.New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Shutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !node.IsLeader() {
		if ctx.Err() != nil {
			t.Fatal("no leader")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := Bootstrap(ctx, node, f, BootstrapConfig{AdminEmail: DefaultAdminEmail, AdminPassword: DefaultAdminPassword, OrgName: DefaultOrgName}); err != nil {
		t.Fatal(err)
	}
	// A node serves once it has caught up since it started (until then
	// health says starting and an unknown session is a 503, not a 401).
	for !node.Ready() {
		if ctx.Err() != nil {
			t.Fatal("the node did not catch up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	kr, err := NewKeyring("test-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	events := &memEvents{}
	deps.Applier, deps.Viewer, deps.Cluster, deps.Keyring, deps.Usage = node, f, node, kr, &event.Local{Events: events}
	if deps.Tester == nil {
		// The console's provider test calls the data plane's adapters, as
		// cmd wires it.
		gw, err := gateway.New(gateway.DefaultConfig(), gateway.Deps{State: f, Unsealer: kr})
		if err != nil {
			t.Fatal(err)
		}
		deps.Tester = gw
	}
	if deps.Gatherer == nil {
		deps.Gatherer = prometheus.NewRegistry()
	}
	s, err := New(Config{SystemKeys: map[string]string{"DEEPSEEK_API_KEY": "sk-env"}, Version: "test"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	e := &testEnv{t: t, srv: srv, api: s, node: node, fsm: f, keys: kr, events: events}
	e.token = e.login(DefaultAdminEmail, DefaultAdminPassword)
	return e
}

type resp struct {
	status int
	body   []byte
	header http.Header
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON: %s", r.body)
	}
	return m
}

// errParam returns the error envelope's code and param.
func (r resp) errCode(t testing.TB) (code, param string) {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error envelope in %s", r.body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := e[k]; !ok {
			t.Fatalf("error envelope lacks %q: %s", k, r.body)
		}
	}
	code, _ = e["code"].(string)
	param, _ = e["param"].(string)
	return code, param
}

func (e *testEnv) do(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.Header.Get("X-Request-Id") == "" {
		e.t.Fatalf("%s %s: no X-Request-Id", method, path)
	}
	return resp{status: res.StatusCode, body: b, header: res.Header}
}

func (e *testEnv) login(email, pw string) string {
	e.t.Helper()
	r := e.do("POST", "/api/auth/login", "", map[string]string{"email": email, "password": pw})
	if r.status != 200 {
		e.t.Fatalf("login: %d %s", r.status, r.body)
	}
	return r.json(e.t)["token"].(string)
}

func (e *testEnv) defaultOrg() string {
	o, _ := e.fsm.View().OrgByName(DefaultOrgName)
	return o.ID
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/health", "", nil)
	if r.status != 200 {
		t.Fatalf("health %d", r.status)
	}
	m := r.json(t)
	if m["status"] != "ok" || m["node_id"] != "n1" || m["leader"] != "n1" {
		t.Fatalf("health body %s", r.body)
	}
	if r := e.do("GET", "/metrics", "", nil); r.status != 200 {
		t.Fatalf("metrics %d", r.status)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"wrong password", map[string]string{"email": DefaultAdminEmail, "password": "nope"}, 401, "invalid_credentials"},
		{"unknown user", map[string]string{"email": "who@example.com", "password": "nope"}, 401, "invalid_credentials"},
		{"missing password", map[string]string{"email": DefaultAdminEmail}, 400, "invalid_request"},
		{"not json", "email=x", 400, "invalid_request"},
		{"unknown field", map[string]string{"email": "a", "pass": "b"}, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/api/auth/login", "", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if code, _ := r.errCode(t); code != tc.code {
				t.Fatalf("code %q, want %q", code, tc.code)
			}
		})
	}
	// Email matching ignores case; the cookie is HttpOnly and SameSite=Strict.
	res, err := http.Post(e.srv.URL+"/api/auth/login", "application/json",
		strings.NewReader(`{"email":"Admin@Example.com","password":"`+DefaultAdminPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var c *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == SessionCookie {
			c = ck
		}
	}
	if res.StatusCode != 200 || c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: status %d cookie %+v", res.StatusCode, c)
	}
	// The cookie alone authenticates.
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/admin/orgs", nil)
	req.AddCookie(c)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("cookie auth: %d", res.StatusCode)
	}
	me := e.do("GET", "/api/auth/me", e.token, nil).json(t)
	if me["must_change_password"] != true || me["role"] != fsm.RoleSuperAdmin {
		t.Fatalf("me: %v", me)
	}
}

func TestUnknownAdminPathsAnswerTheEnvelope(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/admin/nope", e.token, nil)
	if code, _ := r.errCode(t); r.status != 404 || code != "not_found" {
		t.Fatalf("unknown path: %d %s", r.status, r.body)
	}
	r = e.do("PUT", "/api/admin/orgs", e.token, map[string]any{})
	if code, _ := r.errCode(t); r.status != 405 || code != "method_not_allowed" {
		t.Fatalf("wrong method: %d %s", r.status, r.body)
	}
}

func TestAdminNeedsCredentials(t *testing.T) {
	e := newEnv(t)
	forged := e.keys.issueToken(session{UserID: "usr_x", Exp: time.Now().Add(time.Hour).Unix()})
	other, _ := NewKeyring("another-secret-0123456789")
	admin, _ := e.fsm.View().UserByEmail(DefaultAdminEmail)
	wrongKey := other.issueToken(session{UserID: admin.ID, Exp: time.Now().Add(time.Hour).Unix()})
	expired := e.keys.issueToken(session{UserID: admin.ID, Exp: time.Now().Add(-time.Minute).Unix()})
	for _, path := range []string{"/api/admin/orgs", "/api/admin/keys", "/api/admin/providers", "/api/admin/routes", "/api/admin/prices", "/api/admin/snapshot"} {
		for name, tok := range map[string]string{"none": "", "garbage": "xyz", "unknown user": forged, "other secret": wrongKey, "expired": expired} {
			r := e.do("GET", path, tok, nil)
			if r.status != 401 {
				t.Errorf("%s with %s token: %d, want 401", path, name, r.status)
			}
		}
	}
}

func TestOrgs(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "research", "time_zone": "Europe/Berlin"})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	for name, tc := range map[string]struct {
		body  any
		param string
	}{
		"missing name": {map[string]any{}, "name"},
		"bad tz":       {map[string]any{"name": "x", "time_zone": "Mars/Base"}, "time_zone"},
		"wrong type":   {map[string]any{"name": 5}, "name"},
		"unknown":      {map[string]any{"name": "x", "colour": "red"}, "colour"},
		"empty":        {"", ""},
	} {
		r := e.do("POST", "/api/admin/orgs", e.token, tc.body)
		if r.status != 400 {
			t.Errorf("%s: status %d: %s", name, r.status, r.body)
			continue
		}
		if _, param := r.errCode(t); param != tc.param {
			t.Errorf("%s: param %q, want %q (%s)", name, param, tc.param, r.body)
		}
	}
	if r := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "research"}); r.status != 409 {
		t.Fatalf("duplicate name: %d", r.status)
	}
	r = e.do("PATCH", "/api/admin/orgs/"+id, e.token, map[string]any{"name": "research-2"})
	if r.status != 200 || r.json(t)["name"] != "research-2" || r.json(t)["time_zone"] != "Europe/Berlin" {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/admin/orgs", e.token, nil); len(r.json(t)["data"].([]any)) != 2 {
		t.Fatalf("list: %s", r.body)
	}
	if r := e.do("DELETE", "/api/admin/orgs/"+id, e.token, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/admin/orgs/"+id, e.token, nil); r.status != 404 {
		t.Fatalf("get deleted: %d", r.status)
	}
}

func TestKeys(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/api/admin/keys", e.token, map[string]any{
		"org_id": e.defaultOrg(), "name": "billing", "scopes": []string{"llm", "/v1/embeddings"},
		"models": "qwen-plus, deepseek-v4-pro", "limits": map[string]any{"rpm": 60, "budget": "12.50", "budget_period": "daily"},
		"expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
	})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	k := r.json(t)
	secret, _ := k["key"].(string)
	if !strings.HasPrefix(secret, "gk_") || len(secret) != 43 || !strings.HasPrefix(secret, k["prefix"].(string)) {
		t.Fatalf("key %q prefix %v", secret, k["prefix"])
	}
	if lim := k["limits"].(map[string]any); lim["budget"] != "12.5" || lim["rpm"] != float64(60) {
		t.Fatalf("limits %v", lim)
	}
	if got := k["models"].([]any); len(got) != 2 || got[1] != "deepseek-v4-pro" {
		t.Fatalf("models %v", got)
	}
	id := k["id"].(string)
	for _, path := range []string{"/api/admin/keys", "/api/admin/keys/" + id} {
		if r := e.do("GET", path, e.token, nil); r.status != 200 || bytes.Contains(r.body, []byte(secret)) || bytes.Contains(r.body, []byte(`"hash"`)) {
			t.Fatalf("%s shows the secret or its hash: %s", path, r.body)
		}
	}
	// Defaults: every capability, no expiry, and the only org.
	r = e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "defaults"})
	if r.status != 201 || r.json(t)["org_id"] != e.defaultOrg() {
		t.Fatalf("key in the only org: %d %s", r.status, r.body)
	}
	if got := r.json(t)["scopes"].([]any); len(got) != len(fsm.Capabilities) {
		t.Fatalf("default scopes %v", got)
	}
	for name, tc := range map[string]struct {
		body  map[string]any
		param string
	}{
		"no name":      {map[string]any{"org_id": e.defaultOrg()}, "name"},
		"bad org":      {map[string]any{"name": "x", "org_id": "org_nope"}, "org_id"},
		"bad scope":    {map[string]any{"name": "x", "org_id": e.defaultOrg(), "scopes": []string{"video"}}, "scopes"},
		"bad budget":   {map[string]any{"name": "x", "org_id": e.defaultOrg(), "limits": map[string]any{"budget": "-3"}}, "limits.budget"},
		"tiny budget":  {map[string]any{"name": "x", "org_id": e.defaultOrg(), "limits": map[string]any{"budget": "0.0000001"}}, "limits.budget"},
		"bad period":   {map[string]any{"name": "x", "org_id": e.defaultOrg(), "limits": map[string]any{"budget_period": "weekly"}}, "limits.budget_period"},
		"negative rpm": {map[string]any{"name": "x", "org_id": e.defaultOrg(), "limits": map[string]any{"rpm": -1}}, "limits.rpm"},
		"bad expiry":   {map[string]any{"name": "x", "org_id": e.defaultOrg(), "expires_at": "tomorrow"}, "expires_at"},
		"past expiry":  {map[string]any{"name": "x", "org_id": e.defaultOrg(), "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"},
	} {
		r := e.do("POST", "/api/admin/keys", e.token, tc.body)
		if r.status != 400 {
			t.Errorf("%s: status %d: %s", name, r.status, r.body)
			continue
		}
		if _, param := r.errCode(t); param != tc.param {
			t.Errorf("%s: param %q, want %q (%s)", name, param, tc.param, r.body)
		}
	}
	r = e.do("PATCH", "/api/admin/keys/"+id, e.token, map[string]any{"disabled": true, "expires_at": nil})
	if r.status != 200 || r.json(t)["status"] != "disabled" || r.json(t)["expires_at"] != nil {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/api/admin/keys/"+id, e.token, nil); r.status != 204 {
		t.Fatalf("revoke: %d", r.status)
	}
	if r := e.do("GET", "/api/admin/keys/"+id, e.token, nil); r.json(t)["status"] != "revoked" {
		t.Fatalf("after revoke: %s", r.body)
	}
	if r := e.do("PATCH", "/api/admin/keys/"+id, e.token, map[string]any{"disabled": false}); r.status != 409 {
		t.Fatalf("re-enable revoked: %d %s", r.status, r.body)
	}
}

func TestProviders(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/admin/providers", e.token, nil)
	var list struct{ Data []providerJSON }
	_ = json.Unmarshal(r.body, &list)
	if len(list.Data) != 2 || list.Data[0].Slug != "dashscope" || list.Data[1].Slug != "deepseek" {
		t.Fatalf("preloaded providers: %s", r.body)
	}
	if list.Data[0].HasAPIKey || list.Data[1].APIKeySource != "env:DEEPSEEK_API_KEY" {
		t.Fatalf("key sources: %+v", list.Data)
	}
	const upstreamKey = "sk-upstream-secret-123456"
	r = e.do("POST", "/api/admin/providers", e.token, map[string]any{
		"name": "Claude", "slug": "claude", "format": "anthropic", "base_url": "https://api.anthropic.com/",
		"api_key": upstreamKey, "models": "claude-x,claude-y",
	})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	p := r.json(t)
	if p["api_path"] != "/v1/messages" || p["base_url"] != "https://api.anthropic.com" || p["api_key_source"] != "stored" {
		t.Fatalf("created provider %s", r.body)
	}
	stored := e.fsm.View().Providers["claude"]
	if pt, err := e.keys.Open(secret.ProviderPurpose("claude"), stored.APIKeyCipher); err != nil || string(pt) != upstreamKey {
		t.Fatalf("stored key does not open: %v", err)
	}
	// The key survives an update that leaves it out and is cleared by "".
	r = e.do("PUT", "/api/admin/providers/claude", e.token, map[string]any{"enabled": false})
	if r.status != 200 || r.json(t)["has_api_key"] != true || r.json(t)["enabled"] != false {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	r = e.do("PUT", "/api/admin/providers/claude", e.token, map[string]any{"api_key": ""})
	if r.json(t)["has_api_key"] != false {
		t.Fatalf("clearing the key: %s", r.body)
	}
	for _, path := range []string{"/api/admin/providers", "/api/admin/providers/claude"} {
		if r := e.do("GET", path, e.token, nil); bytes.Contains(r.body, []byte(upstreamKey)) || bytes.Contains(r.body, []byte("cipher")) {
			t.Fatalf("%s leaks the key: %s", path, r.body)
		}
	}
	for name, tc := range map[string]struct {
		body  map[string]any
		param string
	}{
		"no slug":     {map[string]any{"name": "x", "base_url": "http://h"}, "slug"},
		"bad slug":    {map[string]any{"slug": "Bad Slug", "name": "x", "base_url": "http://h"}, "slug"},
		"bad format":  {map[string]any{"slug": "x", "name": "x", "base_url": "http://h", "format": "grpc"}, "format"},
		"bad url":     {map[string]any{"slug": "x", "name": "x", "base_url": "ftp://h"}, "base_url"},
		"url with v1": {map[string]any{"slug": "x", "name": "x", "base_url": "http://h/v1"}, "base_url"},
		"bad models":  {map[string]any{"slug": "x", "name": "x", "base_url": "http://h", "models": 3}, "models"},
	} {
		r := e.do("POST", "/api/admin/providers", e.token, tc.body)
		if r.status != 400 {
			t.Errorf("%s: status %d: %s", name, r.status, r.body)
			continue
		}
		if _, param := r.errCode(t); param != tc.param {
			t.Errorf("%s: param %q, want %q (%s)", name, param, tc.param, r.body)
		}
	}
	if r := e.do("POST", "/api/admin/providers", e.token, map[string]any{"slug": "claude", "name": "x", "base_url": "http://h"}); r.status != 409 {
		t.Fatalf("duplicate slug: %d", r.status)
	}
	if r := e.do("DELETE", "/api/admin/providers/claude", e.token, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
}

func TestRoutesPricesPolicies(t *testing.T) {
	e := newEnv(t)
	r := e.do("PUT", "/api/admin/routes/chat", e.token, map[string]any{
		"strategy": "weighted", "targets": []map[string]any{{"provider": "dashscope", "model": "qwen-plus", "weight": 3}, {"provider": "deepseek", "model": "deepseek-v4-flash", "weight": 1}},
	})
	if r.status != 200 {
		t.Fatalf("route: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/api/admin/routes/chat", e.token, map[string]any{"targets": []map[string]any{{"provider": "nope", "model": "m"}}}); r.status != 400 {
		t.Fatalf("route to unknown provider: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/api/admin/routes/chat", e.token, map[string]any{"strategy": "random", "targets": []map[string]any{{"provider": "dashscope", "model": "m"}}}); r.status != 400 {
		t.Fatalf("bad strategy: %d", r.status)
	}
	if r := e.do("DELETE", "/api/admin/providers/deepseek", e.token, nil); r.status != 409 {
		t.Fatalf("deleting a routed provider: %d", r.status)
	}

	r = e.do("PUT", "/api/admin/prices/qwen-plus", e.token, map[string]any{"currency": "cny", "prices": map[string]string{
		"prompt_per_1m_tokens": "0.8", "completion_per_1m_tokens": "2", "per_image": "0.2", "per_10k_characters": "2",
	}})
	if r.status != 200 {
		t.Fatalf("price: %d %s", r.status, r.body)
	}
	got := e.fsm.View().Prices["qwen-plus"]
	if got.Currency != "CNY" || got.Rates[fsm.UnitPromptToken] != 800_000 || got.Rates[fsm.UnitImage] != 200_000_000_000 || got.Rates[fsm.UnitCharacter] != 200_000_000 {
		t.Fatalf("stored price %+v", got)
	}
	if p := r.json(t)["prices"].(map[string]any); p["per_image"] != "0.2" || p["per_10k_characters"] != "2" {
		t.Fatalf("price echo %v", p)
	}
	if r := e.do("PUT", "/api/admin/prices/qwen-plus", e.token, map[string]any{"prices": map[string]string{"per_furlong": "1"}}); r.status != 400 {
		t.Fatalf("unknown price field: %d", r.status)
	}
	if r := e.do("PUT", "/api/admin/prices/qwen-plus", e.token, map[string]any{"prices": map[string]string{"per_image": "abc"}}); r.status != 400 {
		t.Fatalf("bad amount: %d", r.status)
	}

	org := e.defaultOrg()
	r = e.do("GET", "/api/admin/orgs/"+org+"/policy", e.token, nil)
	if r.status != 200 || r.json(t)["partition"] != "fail_closed" {
		t.Fatalf("default policy: %d %s", r.status, r.body)
	}
	r = e.do("PUT", "/api/admin/orgs/"+org+"/policy", e.token, map[string]any{
		"allowed_providers": []string{"dashscope"}, "own_keys": map[string]any{"dashscope": "sk-org-own"},
		"overflow": map[string]any{"mode": "spill", "pool": "deepseek"}, "limits": map[string]any{"budget": "100"},
		"alerts": map[string]any{"webhook_url": "https://hooks.example.com/x", "secret": "whsec"},
	})
	if r.status != 200 || bytes.Contains(r.body, []byte("sk-org-own")) || bytes.Contains(r.body, []byte("whsec")) {
		t.Fatalf("policy: %d %s", r.status, r.body)
	}
	pol := r.json(t)
	if ok := pol["own_keys"].([]any); len(ok) != 1 || ok[0] != "dashscope" || pol["alerts"].(map[string]any)["has_secret"] != true {
		t.Fatalf("policy echo %s", r.body)
	}
	// A later update that leaves own_keys out keeps them.
	r = e.do("PUT", "/api/admin/orgs/"+org+"/policy", e.token, map[string]any{"partition": "fail_open", "fail_open_seconds": 30})
	if len(r.json(t)["own_keys"].([]any)) != 1 {
		t.Fatalf("own key lost: %s", r.body)
	}
	if r := e.do("PUT", "/api/admin/orgs/"+org+"/policy", e.token, map[string]any{"partition": "maybe"}); r.status != 400 {
		t.Fatalf("bad partition: %d", r.status)
	}
	if r := e.do("PUT", "/api/admin/orgs/"+org+"/policy", e.token, map[string]any{"version": 1, "partition": "fail_closed"}); r.status != 409 {
		t.Fatalf("stale version: %d %s", r.status, r.body)
	}
}

func TestPasswordChangeEndsSessions(t *testing.T) {
	e := newEnv(t)
	old := e.token
	r := e.do("POST", "/api/auth/password", old, map[string]string{"current_password": "wrong", "new_password": "a-new-password-1"})
	if r.status != 401 {
		t.Fatalf("wrong current: %d", r.status)
	}
	r = e.do("POST", "/api/auth/password", old, map[string]string{"current_password": DefaultAdminPassword, "new_password": "short"})
	if code, param := r.errCode(t); r.status != 400 || code != "invalid_request" || param != "new_password" {
		t.Fatalf("short password: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/auth/password", old, map[string]string{"current_password": DefaultAdminPassword, "new_password": "a-new-password-1"})
	if r.status != 200 || r.json(t)["user"].(map[string]any)["must_change_password"] != false {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/admin/orgs", old, nil); r.status != 401 {
		t.Fatalf("old session still works: %d", r.status)
	}
	if r := e.do("GET", "/api/admin/orgs", r.json(t)["token"].(string), nil); r.status != 200 {
		t.Fatalf("new session: %d", r.status)
	}
	if r := e.do("POST", "/api/auth/login", "", map[string]string{"email": DefaultAdminEmail, "password": DefaultAdminPassword}); r.status != 401 {
		t.Fatalf("old password still works: %d", r.status)
	}
}

func TestOrgAdminIsConfinedToItsOrg(t *testing.T) {
	e := newEnv(t)
	other := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "other"}).json(t)["id"].(string)
	mine := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "mine"}).json(t)["id"].(string)
	hash, _ := HashPassword("org-admin-password")
	if _, err := e.node.Apply(context.Background(), fsm.Command{Type: fsm.TypeUserUpsert, Body: fsm.UserUpsertBody{Create: true,
		User: fsm.User{ID: "usr_oa", Email: "oa@example.com", PasswordHash: hash, Role: fsm.RoleOrgAdmin, OrgID: mine}}}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "which org?"}); r.status != 400 {
		t.Fatalf("key without org_id among several orgs: %d %s", r.status, r.body)
	}
	otherKey := e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "theirs", "org_id": other}).json(t)["id"].(string)
	tok := e.login("oa@example.com", "org-admin-password")
	if r := e.do("GET", "/api/admin/orgs", tok, nil); len(r.json(t)["data"].([]any)) != 1 {
		t.Fatalf("org admin sees %s", r.body)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/api/admin/orgs/" + other, nil, 404},
		{"GET", "/api/admin/keys/" + otherKey, nil, 404},
		{"DELETE", "/api/admin/keys/" + otherKey, nil, 404},
		{"POST", "/api/admin/keys", map[string]any{"name": "x", "org_id": other}, 400},
		{"PUT", "/api/admin/orgs/" + other + "/policy", map[string]any{}, 404},
		{"POST", "/api/admin/orgs", map[string]any{"name": "x"}, 403},
		{"POST", "/api/admin/providers", map[string]any{"slug": "x", "name": "x", "base_url": "http://h"}, 403},
		{"PUT", "/api/admin/prices/m", map[string]any{"prices": map[string]string{"per_image": "1"}}, 403},
		{"GET", "/api/admin/snapshot", nil, 403},
		{"POST", "/api/admin/keys", map[string]any{"name": "mine"}, 201},
	} {
		if r := e.do(tc.method, tc.path, tok, tc.body); r.status != tc.status {
			t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.path, r.status, tc.status, r.body)
		}
	}
	if r := e.do("GET", "/api/admin/keys", tok, nil); len(r.json(t)["data"].([]any)) != 1 {
		t.Fatalf("org admin's key list: %s", r.body)
	}
}

func TestSnapshotSaveRestore(t *testing.T) {
	src := newEnv(t)
	src.do("POST", "/api/admin/orgs", src.token, map[string]any{"name": "research"})
	key := src.do("POST", "/api/admin/keys", src.token, map[string]any{"name": "k", "org_id": src.defaultOrg()}).json(t)
	r := src.do("GET", "/api/admin/snapshot", src.token, nil)
	if r.status != 200 || len(r.body) == 0 {
		t.Fatalf("save: %d", r.status)
	}
	snap := r.body

	dst := newEnv(t)
	if r := dst.do("POST", "/api/admin/snapshot/restore", dst.token, []byte("junk")); r.status != 400 {
		t.Fatalf("junk restore: %d", r.status)
	}
	if r := dst.do("POST", "/api/admin/snapshot/restore", dst.token, snap); r.status != 200 {
		t.Fatalf("restore: %d %s", r.status, r.body)
	}
	v := dst.fsm.View()
	if _, ok := v.OrgByName("research"); !ok || v.Key(key["id"].(string)) == nil {
		t.Fatal("restored state lacks the org or the key")
	}
}
