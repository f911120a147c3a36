package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/fsm"
)

// reach is how each adapter gets to one operation: an API call and a
// console form post. The calls need not succeed (a refusal is decided
// inside the operation too); they must reach it.
type reach struct {
	api     func(e *testEnv) resp
	console func(c *consoleClient, csrf string) int
}

// reaches names, for every operation, the way each adapter reaches it.
// An operation declared APIOnly in ops.All has no console entry.
func reaches(upstream, keyID, org string) map[ops.Name]reach {
	form := func(path string, v url.Values) func(c *consoleClient, csrf string) int {
		return func(c *consoleClient, csrf string) int {
			if v == nil {
				v = url.Values{}
			}
			v.Set("csrf", csrf)
			code, _, _ := c.req("POST", path, v)
			return code
		}
	}
	api := func(method, path string, body any) func(e *testEnv) resp {
		return func(e *testEnv) resp { return e.do(method, path, e.token, body) }
	}
	return map[ops.Name]reach{
		ops.KeyCreate: {api("POST", "/api/admin/keys", map[string]any{"name": "api"}), form("/keys", url.Values{"name": {"console"}})},
		ops.KeyUpdate: {api("PATCH", "/api/admin/keys/"+keyID, map[string]any{"disabled": true}), form("/keys/"+keyID+"/enable", nil)},
		ops.KeyRevoke: {api("DELETE", "/api/admin/keys/nope", nil), form("/keys/nope/revoke", nil)},

		ops.OrgCreate: {api("POST", "/api/admin/orgs", map[string]any{"name": "api org"}), form("/orgs", url.Values{"name": {"console org"}})},
		ops.OrgUpdate: {api: api("PATCH", "/api/admin/orgs/nope", map[string]any{"name": "x"})},
		ops.OrgDelete: {api: api("DELETE", "/api/admin/orgs/nope", nil)},

		ops.ProviderCreate: {api("POST", "/api/admin/providers", map[string]any{"slug": "api-p", "name": "p", "base_url": upstream}),
			form("/cap/llm/providers", url.Values{"slug": {"console-p"}, "name": {"p"}, "base_url": {upstream}})},
		ops.ProviderUpdate: {api("PUT", "/api/admin/providers/local", map[string]any{"name": "renamed"}),
			form("/cap/llm/providers/local/models", url.Values{"open": {"m"}})},
		ops.ProviderDelete: {api: api("DELETE", "/api/admin/providers/nope", nil)},
		ops.ProviderTest:   {api("POST", "/api/admin/providers/local/test", nil), form("/cap/llm/providers/local/test", nil)},

		ops.UserCreate: {api("POST", "/api/admin/users", map[string]any{"email": "u1@example.com", "password": "a-long-password", "role": "member", "org_id": org}),
			form("/orgs/"+org+"/members", url.Values{"email": {"u2@example.com"}, "password": {"a-long-password"}, "role": {"member"}})},
		ops.UserUpdate: {api("PATCH", "/api/admin/users/nope", map[string]any{"disabled": true}), form("/users/nope/disable", nil)},
		ops.PolicyUpdate: {api("PUT", "/api/admin/orgs/"+org+"/policy", map[string]any{"strategy": "priority"}),
			form("/routing/policies/"+org, url.Values{"strategy": {"priority"}})},
		ops.RoutePut: {api("PUT", "/api/admin/routes/m", map[string]any{"targets": []map[string]any{{"provider": "local", "model": "m"}}}),
			form("/routing/routes", url.Values{"model": {"m2"}, "targets": {"local:m"}})},
		ops.RouteDelete: {api: api("DELETE", "/api/admin/routes/m", nil)},
		ops.PricePut: {api("PUT", "/api/admin/prices/m", map[string]any{"prices": map[string]string{"per_image": "0.1"}}),
			form("/routing/prices", url.Values{"model": {"m"}, "per_image": {"0.2"}})},
		ops.PriceDelete:     {api: api("DELETE", "/api/admin/prices/m", nil)},
		ops.MemberRemove:    {api("DELETE", "/api/admin/cluster/members/nope", nil), form("/cluster/members/nope/remove", nil)},
		ops.LeaderTransfer:  {api("POST", "/api/admin/cluster/transfer-leader", map[string]any{"timeout": "bogus"}), form("/cluster/transfer-leader", url.Values{"node_id": {"nope"}})},
		ops.SecretsReseal:   {api: api("POST", "/api/admin/secrets/reseal", nil)},
		ops.SnapshotRestore: {api: api("POST", "/api/admin/snapshot/restore", "not a snapshot")},
		ops.PasswordChange:  {api("POST", "/api/auth/password", map[string]any{"current_password": "wrong", "new_password": "another-long-one"}), form("/password", url.Values{"current_password": {"wrong"}, "new_password": {"another-long-one"}})},
	}
}

// TestEveryOperationIsReachedByBothAdapters lists ops.All and checks that
// the JSON API and the console each reach every operation through ops,
// or that it is declared API-only with a reason.
func TestEveryOperationIsReachedByBothAdapters(t *testing.T) {
	var mu sync.Mutex
	var seen []ops.Name
	e := newEnv(t, func(_ *cluster.Config, d *Deps) {
		d.observe = func(n ops.Name) { mu.Lock(); seen = append(seen, n); mu.Unlock() }
	})
	took := func() []ops.Name { mu.Lock(); defer mu.Unlock(); out := seen; seen = nil; return out }
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"pong"}}]}`)
	}))
	defer up.Close()
	if r := e.do("POST", "/api/admin/providers", e.token, map[string]any{"slug": "local", "name": "Local", "base_url": up.URL, "models": []string{"m"}}); r.status != 201 {
		t.Fatalf("provider: %d %s", r.status, r.body)
	}
	key := e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "k"})
	keyID, _ := key.json(t)["id"].(string)
	root := e.consoleAs(t, fsm.RoleSuperAdmin, "", "reach@example.com")
	csrf := root.csrf()
	took()

	table := reaches(up.URL, keyID, e.defaultOrg())
	for _, op := range ops.All {
		t.Run(string(op.Name), func(t *testing.T) {
			w, ok := table[op.Name]
			if !ok || w.api == nil {
				t.Fatalf("no API call reaches %s: add one to reaches", op.Name)
			}
			if r := w.api(e); !slices.Contains(took(), op.Name) {
				t.Errorf("the API call (answered %d %s) did not reach %s", r.status, r.body, op.Name)
			}
			switch {
			case op.APIOnly != "" && w.console != nil:
				t.Errorf("%s is declared API-only (%s) but the console reaches it", op.Name, op.APIOnly)
			case op.APIOnly != "":
			case w.console == nil:
				t.Fatalf("no console form reaches %s: add one to reaches, or declare it APIOnly with a reason", op.Name)
			default:
				if code := w.console(root, csrf); !slices.Contains(took(), op.Name) {
					t.Errorf("the console form (answered %d) did not reach %s", code, op.Name)
				}
			}
		})
	}
	// Forms beyond the first that act through the same operation.
	for _, f := range []struct {
		op         ops.Name
		path       string
		form       url.Values
		orgAdminOf bool
	}{
		{ops.PolicyUpdate, "/alerts/" + e.defaultOrg(), url.Values{"webhook_url": {""}, "budget_thresholds": {"80"}}, false},
		{ops.PolicyUpdate, "/cap/llm/providers/local/own-key", url.Values{"own_key": {"sk-own"}}, true},
		{ops.KeyUpdate, "/keys/" + keyID + "/disable", nil, false},
		{ops.KeyUpdate, "/keys/" + keyID + "/enable", nil, false},
		{ops.ProviderUpdate, "/cap/llm/providers/local", url.Values{"name": {"Local"}, "base_url": {up.URL}, "models": {"m"}, "enabled": {"1"}}, false},
	} {
		c, tok := root, csrf
		if f.orgAdminOf {
			c = e.consoleAs(t, fsm.RoleOrgAdmin, e.defaultOrg(), "reach-oa@example.com")
			tok = c.csrf()
			took()
		}
		v := url.Values{"csrf": {tok}}
		for k, vs := range f.form {
			v[k] = vs
		}
		if code, _, _ := c.req("POST", f.path, v); !slices.Contains(took(), f.op) {
			t.Errorf("the console form %s (answered %d) did not reach %s", f.path, code, f.op)
		}
	}
	for name := range table {
		if !slices.ContainsFunc(ops.All, func(o ops.Op) bool { return o.Name == name }) {
			t.Errorf("reaches lists %s, which ops.All does not", name)
		}
	}
}
