package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/admin/console"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

// langCookie is the console's language cookie.
const langCookie = console.LangCookie

// keysPerPage is how many keys the console's keys page lists at once.
const keysPerPage = console.KeysPerPage

// consoleClient is a browser-like client of the console: cookies, forms,
// no redirects followed.
type consoleClient struct {
	t     testing.TB
	e     *testEnv
	token string
}

func (e *testEnv) consoleAs(t testing.TB, role, orgID, email string) *consoleClient {
	t.Helper()
	hash, _ := HashPassword("console-test-password")
	if _, err := e.node.Apply(context.Background(), fsm.Command{Type: fsm.TypeUserUpsert, Body: fsm.UserUpsertBody{Create: true,
		User: fsm.User{ID: newID("usr"), Email: email, PasswordHash: hash, Role: role, OrgID: orgID}}}); err != nil {
		t.Fatal(err)
	}
	return &consoleClient{t: t, e: e, token: e.login(email, "console-test-password")}
}

func (c *consoleClient) req(method, path string, form url.Values) (int, string, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, _ := http.NewRequest(method, c.e.srv.URL+path, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: c.token})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(r)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *consoleClient) csrf() string {
	c.t.Helper()
	_, _, page := c.req("GET", "/keys", nil)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("no csrf token on the page: %.300s", page)
	}
	return m[1]
}

func TestConsoleAuthorizationAndCSRF(t *testing.T) {
	e := newEnv(t)
	def := e.defaultOrg()
	other := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "other"}).json(t)["id"].(string)
	otherKey := e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "theirs", "org_id": other}).json(t)["id"].(string)
	ownKey := e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "ours", "org_id": def}).json(t)["id"].(string)

	// Not signed in: every page sends to the sign-in page.
	anon := &consoleClient{t: t, e: e}
	for _, p := range []string{"/", "/keys", "/cluster"} {
		if code, loc, _ := anon.req("GET", p, nil); code != 303 || !strings.HasPrefix(loc, "/login") {
			t.Errorf("%s without a session: %d %s", p, code, loc)
		}
	}

	admin := e.consoleAs(t, fsm.RoleOrgAdmin, def, "oa@example.com")
	member := e.consoleAs(t, fsm.RoleMember, def, "member@example.com")
	tok := admin.csrf()

	// CSRF: a form without the token, or with another session's, is refused.
	if code, _, _ := admin.req("POST", "/keys", url.Values{"name": {"x"}}); code != 403 {
		t.Errorf("create without csrf: %d", code)
	}
	if code, _, _ := admin.req("POST", "/keys", url.Values{"name": {"x"}, "csrf": {member.csrf()}}); code != 403 {
		t.Errorf("create with another session's csrf: %d", code)
	}
	// The org admin creates in its own org; the page shows the key once.
	code, _, page := admin.req("POST", "/keys", url.Values{"name": {"made in console"}, "csrf": {tok}, "scopes": {"llm", "asr"}, "rpm": {"60"}})
	if code != 200 || !strings.Contains(page, `id="new-secret">gk_`) {
		t.Fatalf("create: %d %.500s", code, page)
	}
	var made *fsm.Key
	for _, k := range e.fsm.View().AllKeys() {
		if k.Name == "made in console" {
			made = k
		}
	}
	if made == nil || made.OrgID != def || made.Limits.RPM != 60 || len(made.Scopes) != 2 {
		t.Fatalf("created %+v", made)
	}
	// ...but not in another org, and cannot touch another org's keys.
	if code, _, _ := admin.req("POST", "/keys", url.Values{"name": {"x"}, "csrf": {tok}, "org_id": {other}}); code != 400 {
		t.Errorf("create in another org: %d", code)
	}
	if code, _, _ := admin.req("POST", "/keys/"+otherKey+"/disable", url.Values{"csrf": {tok}}); code != 404 {
		t.Errorf("disable another org's key: %d", code)
	}
	if _, _, page := admin.req("GET", "/keys", nil); strings.Contains(page, "theirs") {
		t.Error("the org admin sees another org's key")
	}
	// A read-only member sees the keys and changes nothing.
	mt := member.csrf()
	if _, _, page := member.req("GET", "/keys", nil); !strings.Contains(page, "ours") || strings.Contains(page, `id="create-key"`) {
		t.Error("member's keys page")
	}
	for path, form := range map[string]url.Values{
		"/keys":                       {"name": {"x"}, "csrf": {mt}},
		"/keys/" + ownKey + "/revoke": {"csrf": {mt}},
		"/cluster/transfer-leader":    {"csrf": {mt}},
	} {
		if code, _, _ := member.req("POST", path, form); code != 403 {
			t.Errorf("member POST %s: %d, want 403", path, code)
		}
	}
	if e.fsm.View().Key(ownKey).RevokedAt != nil {
		t.Fatal("a member revoked a key")
	}
	// The org admin may not change the cluster either.
	if code, _, _ := admin.req("POST", "/cluster/members/n9/remove", url.Values{"csrf": {tok}}); code != 403 {
		t.Errorf("org admin removing a node: %d", code)
	}
	// Disable, then enable, its own key.
	for _, action := range []string{"disable", "enable"} {
		if code, loc, _ := admin.req("POST", "/keys/"+made.ID+"/"+action, url.Values{"csrf": {tok}}); code != 303 || loc != "/keys" {
			t.Errorf("%s: %d %s", action, code, loc)
		}
	}
	if e.fsm.View().Key(made.ID).Disabled {
		t.Error("key still disabled after enable")
	}
}

func TestConsoleSignInForm(t *testing.T) {
	e := newEnv(t)
	jar := &consoleClient{t: t, e: e}
	// A sign-in post without the form's own token is refused.
	if code, _, _ := jar.req("POST", "/login", url.Values{"email": {DefaultAdminEmail}, "password": {DefaultAdminPassword}}); code != 403 {
		t.Errorf("sign-in without its token: %d", code)
	}
}

func TestConsoleUsageAndAuditStayInTheOrg(t *testing.T) {
	e := newEnv(t)
	def := e.defaultOrg()
	other := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "other"}).json(t)["id"].(string)
	now := e.api.d.Now().UTC()
	for i, org := range []string{def, other} {
		e.events.add(t, event.Event{RequestID: fmt.Sprintf("req_c%d", i), Time: now.Add(-time.Minute), OrgID: org, KeyID: "k" + org,
			Capability: "llm", Model: "m-" + org, Status: 200, Usage: event.Usage{PromptTokens: 3}, CostMicros: 1500, Currency: "CNY",
			Attempts: []event.Attempt{{Provider: "p", Model: "m", Result: "ok"}}})
	}
	oa := e.consoleAs(t, fsm.RoleOrgAdmin, def, "oa2@example.com")
	if code, _, page := oa.req("GET", "/audit", nil); code != 200 || !strings.Contains(page, "req_c0") || strings.Contains(page, "req_c1") {
		t.Fatalf("audit list: %d", code)
	}
	if code, _, _ := oa.req("GET", "/audit/req_c1", nil); code != 404 {
		t.Fatalf("another org's event: %d", code)
	}
	if code, _, page := oa.req("GET", "/audit/req_c0", nil); code != 200 || !strings.Contains(page, `id="chain"`) {
		t.Fatalf("own event: %d", code)
	}
	// The overview's tables: by model and the busiest keys, of the org only.
	if _, _, page := oa.req("GET", "/", nil); !strings.Contains(page, "m-"+def) || strings.Contains(page, "m-"+other) ||
		!strings.Contains(page, `id="ov.topkeys"`) || !strings.Contains(page, "k"+def) || !strings.Contains(page, `id="error-rate">(0.00%)`) {
		t.Fatalf("overview: %.3000s", page[strings.Index(page, `class="cards"`):])
	}
	code, _, csv := oa.req("GET", "/usage.csv?group_by=org", nil)
	if code != 200 || !strings.HasPrefix(csv, "org,requests,") || !strings.Contains(csv, def+",1,0,3,") || strings.Contains(csv, other) {
		t.Fatalf("csv: %d %q", code, csv)
	}
}

// TestConsolePageWeight keeps each page, with its scripts and styles,
// under 300 KB, and every asset served from the node itself.
func TestConsolePageWeight(t *testing.T) {
	e := newEnv(t)
	oa := e.consoleAs(t, fsm.RoleSuperAdmin, "", "root2@example.com")
	asset := regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)
	external := regexp.MustCompile(`(?:src|href|action)="(?:https?:)?//`)
	for _, p := range consolePages {
		code, _, html := oa.req("GET", p, nil)
		if code != 200 {
			t.Fatalf("%s: %d", p, code)
		}
		total := len(html)
		for _, m := range asset.FindAllStringSubmatch(html, -1) {
			code, _, body := oa.req("GET", m[1], nil)
			if code != 200 {
				t.Fatalf("%s: asset %s answered %d", p, m[1], code)
			}
			total += len(body)
		}
		if external.MatchString(html) {
			t.Errorf("%s loads something from another site: %s", p, external.FindString(html))
		}
		t.Logf("%s: %d KB with its scripts and styles", p, total/1024)
		if total > 300<<10 {
			t.Errorf("%s weighs %d KB, over 300 KB", p, total/1024)
		}
	}
}

// consolePages are every page a signed-in user may open.
var consolePages = []string{"/", "/cap/llm", "/cap/image", "/cap/asr", "/cap/tts", "/cap/ocr", "/cap/vision-segment", "/keys", "/orgs", "/routing", "/usage", "/audit", "/alerts", "/cluster", "/password"}

// TestEveryPageRendersForEveryRole catches a template that fails for one
// role's data.
func TestEveryPageRendersForEveryRole(t *testing.T) {
	e := newEnv(t)
	def := e.defaultOrg()
	e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "k", "limits": map[string]any{"rpm": 5, "budget": "1.5"}})
	for role, org := range map[string]string{fsm.RoleSuperAdmin: "", fsm.RoleOrgAdmin: def, fsm.RoleMember: def} {
		c := e.consoleAs(t, role, org, role+"@example.com")
		for _, p := range consolePages {
			for _, lang := range []string{"zh", "en"} {
				r, _ := http.NewRequest("GET", e.srv.URL+p, nil)
				r.AddCookie(&http.Cookie{Name: SessionCookie, Value: c.token})
				r.AddCookie(&http.Cookie{Name: langCookie, Value: lang})
				res, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || !strings.Contains(string(b), "</html>") {
					t.Errorf("%s as %s in %s: %d", p, role, lang, res.StatusCode)
				}
			}
		}
	}
}

func TestConsoleProviders(t *testing.T) {
	e := newEnv(t)
	def := e.defaultOrg()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sk-from-the-form" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"message":"bad key"}}`)
			return
		}
		io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"pong"}}]}`)
	}))
	defer up.Close()
	root := e.consoleAs(t, fsm.RoleSuperAdmin, "", "root3@example.com")
	tok := root.csrf()
	code, _, _ := root.req("POST", "/cap/asr/providers", url.Values{"csrf": {tok}, "name": {"Self-hosted ASR"}, "slug": {"asr-local"},
		"format": {"openai"}, "base_url": {up.URL}, "api_key": {"sk-from-the-form"}, "models": {"whisper-large, paraformer"}})
	if code != 303 {
		t.Fatalf("add provider: %d", code)
	}
	p := e.fsm.View().Providers["asr-local"]
	if p == nil || !slices.Equal(p.Capabilities, []string{"asr"}) || !slices.Equal(p.Models, []string{"whisper-large", "paraformer"}) || len(p.APIKeyCipher) == 0 {
		t.Fatalf("provider %+v", p)
	}
	if _, _, page := root.req("GET", "/cap/asr", nil); !strings.Contains(page, "asr-local") || strings.Contains(page, "sk-from-the-form") {
		t.Fatal("the asr page does not list the provider, or shows its key")
	}
	// The connection test makes a real call with the stored key. For a
	// chat provider it is a one-token chat.
	root.req("POST", "/cap/llm/providers", url.Values{"csrf": {tok}, "name": {"Chat"}, "slug": {"chat-local"}, "base_url": {up.URL},
		"api_key": {"sk-from-the-form"}, "models": {"m"}})
	if _, _, page := root.req("POST", "/cap/llm/providers/chat-local/test", url.Values{"csrf": {tok}}); !strings.Contains(page, "pong") || !strings.Contains(page, `class="notice" id="conn-test"`) {
		t.Fatalf("connection test: %.2000s", page)
	}
	// Editing with the key left blank keeps it; the test still passes.
	root.req("POST", "/cap/llm/providers/chat-local", url.Values{"csrf": {tok}, "name": {"Chat renamed"}, "base_url": {up.URL}, "models": {"m"}, "enabled": {"1"}})
	if pv := e.fsm.View().Providers["chat-local"]; pv.Name != "Chat renamed" || len(pv.APIKeyCipher) == 0 {
		t.Fatalf("after edit: %+v", pv)
	}
	// An org admin switches its org to its own key; a member cannot.
	oa := e.consoleAs(t, fsm.RoleOrgAdmin, def, "oa4@example.com")
	if code, _, _ := oa.req("POST", "/cap/llm/providers/chat-local/own-key", url.Values{"csrf": {oa.csrf()}, "own_key": {"sk-org-own"}}); code != 303 {
		t.Fatalf("own key: %d", code)
	}
	if pol := e.fsm.View().Policies[def]; pol == nil || len(pol.OwnKeys["chat-local"]) == 0 {
		t.Fatal("own key not stored")
	}
	if code, _, _ := oa.req("POST", "/cap/llm/providers", url.Values{"csrf": {oa.csrf()}, "name": {"x"}, "slug": {"x"}, "base_url": {up.URL}}); code != 403 {
		t.Fatalf("org admin adds a provider: %d", code)
	}
	m := e.consoleAs(t, fsm.RoleMember, def, "m4@example.com")
	if code, _, _ := m.req("POST", "/cap/llm/providers/chat-local/own-key", url.Values{"csrf": {m.csrf()}, "own_key": {"x"}}); code != 403 {
		t.Fatalf("member sets an own key: %d", code)
	}

	// Choosing the open models: untick paraformer; the API shows it closed.
	if code, _, _ := root.req("POST", "/cap/asr/providers/asr-local/models", url.Values{"csrf": {tok}, "open": {"whisper-large"}}); code != 303 {
		t.Fatalf("close a model: %d", code)
	}
	if pv := e.fsm.View().Providers["asr-local"]; !slices.Equal(pv.DisabledModels, []string{"paraformer"}) {
		t.Fatalf("closed models %v", pv.DisabledModels)
	}
	if got := e.do("GET", "/api/admin/providers/asr-local", e.token, nil).json(t)["disabled_models"]; fmt.Sprint(got) != "[paraformer]" {
		t.Fatalf("API disabled_models %v", got)
	}
	if _, _, page := root.req("GET", "/cap/asr", nil); !strings.Contains(page, `value="paraformer" >`) || !strings.Contains(page, `value="whisper-large" checked>`) {
		t.Fatalf("the page does not show which models are open")
	}
	if code, _, _ := oa.req("POST", "/cap/asr/providers/asr-local/models", url.Values{"csrf": {oa.csrf()}}); code != 403 {
		t.Fatalf("org admin closes models: %d", code)
	}
	// Taking a closed model off the list forgets it; closing an unlisted one is refused.
	if r := e.do("PUT", "/api/admin/providers/asr-local", e.token, map[string]any{"models": []string{"whisper-large"}}); r.status != 200 ||
		len(e.fsm.View().Providers["asr-local"].DisabledModels) != 0 {
		t.Fatalf("shrink the list: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/api/admin/providers/asr-local", e.token, map[string]any{"disabled_models": []string{"nope"}}); r.status != 400 {
		t.Fatalf("close an unlisted model: %d %s", r.status, r.body)
	} else if _, param := r.errCode(t); param != "disabled_models" {
		t.Fatalf("param %q", param)
	}
}

func TestConsoleRoutingAndPolicies(t *testing.T) {
	e := newEnv(t)
	def := e.defaultOrg()
	other := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "other"}).json(t)["id"].(string)
	root := e.consoleAs(t, fsm.RoleSuperAdmin, "", "root5@example.com")
	tok := root.csrf()
	if code, _, page := root.req("POST", "/routing/routes", url.Values{"csrf": {tok}, "model": {"smart"}, "strategy": {"weighted"},
		"targets": {"dashscope:qwen-plus:3\ndeepseek:deepseek-v4-flash:1"}}); code != 303 {
		t.Fatalf("route: %d %.500s", code, page)
	}
	if rt := e.fsm.View().Routes["smart"]; rt == nil || rt.Strategy != "weighted" || len(rt.Targets) != 2 || rt.Targets[0].Weight != 3 {
		t.Fatalf("route %+v", rt)
	}
	if code, _, _ := root.req("POST", "/routing/prices", url.Values{"csrf": {tok}, "model": {"smart"}, "currency": {"cny"}, "prompt_per_1m_tokens": {"0.8"}}); code != 303 {
		t.Fatalf("price: %d", code)
	}
	if p := e.fsm.View().Prices["smart"]; p == nil || p.Currency != "CNY" || p.Rates[fsm.UnitPromptToken] != 800_000 {
		t.Fatalf("price %+v", p)
	}
	oa := e.consoleAs(t, fsm.RoleOrgAdmin, def, "oa5@example.com")
	otok := oa.csrf()
	// The org admin tunes its policy; what the system grants the org
	// (allowed providers, allocation, partition) is not read from its form.
	if code, _, page := oa.req("POST", "/routing/policies/"+def, url.Values{"csrf": {otok}, "allowed_providers": {"dashscope"},
		"overflow_mode": {"spill"}, "overflow_pool": {"deepseek"}, "partition": {"fail_open"}, "fail_open_seconds": {"30"},
		"allocation": {"deepseek:100:500"}, "breaker_consecutive_failures": {"3"}, "breaker_cooldown_seconds": {"10"},
		"webhook_url": {"https://hooks.example/x"}, "webhook_secret": {"s3cret"}}); code != 303 {
		t.Fatalf("policy: %d %.800s", code, page)
	}
	pol := e.fsm.View().Policies[def]
	if pol == nil || len(pol.AllowedProviders) != 0 || pol.Partition == "fail_open" || len(pol.Allocation) != 0 || pol.Overflow.Pool != "deepseek" ||
		pol.Breaker.ConsecutiveFailures != 3 || pol.Breaker.CooldownSeconds != 10 || len(pol.Alerts.SecretCipher) == 0 {
		t.Fatalf("policy after the org admin's form %+v", pol)
	}
	// ...and the API refuses them from an org admin.
	oaTok := e.login("oa5@example.com", "console-test-password")
	for name, body := range map[string]map[string]any{
		"limits":     {"limits": map[string]any{"rpm": 1000000}},
		"allocation": {"allocation": map[string]any{"deepseek": map[string]any{"concurrency": 500}}},
		"allowed":    {"allowed_providers": []string{"deepseek"}},
		"partition":  {"partition": "fail_open", "fail_open_seconds": 60},
	} {
		if r := e.do("PUT", "/api/admin/orgs/"+def+"/policy", oaTok, body); r.status != 403 {
			t.Errorf("org admin sets %s: %d %s", name, r.status, r.body)
		}
	}
	// A super admin sets them in the same form.
	if code, _, page := root.req("POST", "/routing/policies/"+def, url.Values{"csrf": {tok}, "allowed_providers": {"dashscope, deepseek"},
		"overflow_mode": {"spill"}, "overflow_pool": {"deepseek"}, "partition": {"fail_open"}, "fail_open_seconds": {"30"},
		"allocation": {"dashscope:80:20\ndeepseek:20%:5"}, "breaker_consecutive_failures": {"3"}}); code != 303 {
		t.Fatalf("root policy: %d %.800s", code, page)
	}
	pol = e.fsm.View().Policies[def]
	if !slices.Equal(pol.AllowedProviders, []string{"dashscope", "deepseek"}) || pol.Partition != "fail_open" || pol.FailOpenSeconds != 30 ||
		pol.Allocation["dashscope"] != (fsm.Allocation{SharePercent: 80, Concurrency: 20}) || pol.Allocation["deepseek"] != (fsm.Allocation{SharePercent: 20, Concurrency: 5}) {
		t.Fatalf("policy after the super admin's form %+v", pol)
	}
	if _, _, page := root.req("GET", "/routing", nil); !strings.Contains(page, "dashscope:80:20\ndeepseek:20:5") {
		t.Fatal("the form does not show the allocation")
	}
	if code, _, _ := root.req("POST", "/routing/policies/"+def, url.Values{"csrf": {tok}, "allocation": {"dashscope=80"}}); code != 400 {
		t.Fatalf("bad allocation line: %d", code)
	}
	if _, _, page := oa.req("GET", "/routing", nil); strings.Contains(page, `data-policy="`+other+`"`) || strings.Contains(page, "s3cret") {
		t.Fatal("the org admin sees another org's policy, or a secret")
	}
	for path, form := range map[string]url.Values{
		"/routing/policies/" + other: {"csrf": {otok}, "partition": {"fail_closed"}},
		"/routing/routes":            {"csrf": {otok}, "model": {"x"}, "targets": {"deepseek:x"}},
		"/routing/prices":            {"csrf": {otok}, "model": {"x"}, "per_image": {"1"}},
	} {
		if code, _, _ := oa.req("POST", path, form); code != 404 && code != 403 {
			t.Errorf("org admin POST %s: %d", path, code)
		}
	}
}

func TestConsoleAlerts(t *testing.T) {
	e := newEnv(t)
	def := e.defaultOrg()
	e.api.d.Alerts = func() []AlertRecord {
		return []AlertRecord{{Type: "budget_threshold", OrgID: def, Message: "ours", Target: "https://system.example/hook", Result: "sent"},
			{Type: "node_lost", Message: "system only", Result: "sent"}}
	}
	oa := e.consoleAs(t, fsm.RoleOrgAdmin, def, "oa6@example.com")
	_, _, page := oa.req("GET", "/alerts", nil)
	if !strings.Contains(page, "ours") || strings.Contains(page, "system only") || strings.Contains(page, "system.example") {
		t.Fatal("the org admin's alerts show another scope's alerts or the system webhook")
	}
	if code, _, _ := oa.req("POST", "/alerts/"+def, url.Values{"csrf": {oa.csrf()}, "webhook_url": {"https://hooks.example/ours"}, "budget_thresholds": {"50, 90%,100"}}); code != 303 {
		t.Fatalf("save: %d", code)
	}
	if pol := e.fsm.View().Policies[def]; pol == nil || !slices.Equal(pol.Alerts.BudgetThresholds, []int{50, 90, 100}) || pol.Alerts.WebhookURL != "https://hooks.example/ours" {
		t.Fatalf("policy %+v", pol)
	}
}

func TestConsoleKeysPagePagesSearchesAndShowsUse(t *testing.T) {
	e := newEnv(t)
	def := e.defaultOrg()
	var ids []string
	for i := range 2*keysPerPage + 3 {
		ids = append(ids, e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": fmt.Sprintf("svc-%03d", i), "org_id": def}).json(t)["id"].(string))
	}
	used := ids[len(ids)-1] // the newest: first on the first page
	now := time.Now()
	for i := range 3 {
		e.events.add(t, event.Event{RequestID: fmt.Sprintf("req_k%d", i), Time: now.Add(-time.Minute), OrgID: def, KeyID: used,
			Capability: "llm", Model: "m", Status: 200, Usage: event.Usage{PromptTokens: 10, CompletionTokens: 5}, CostMicros: 1_500_000, Currency: "CNY"})
	}
	if _, err := e.node.Apply(context.Background(), fsm.Command{Type: fsm.TypeUsageAdd, Body: fsm.UsageAddBody{Stream: "s", From: 1, To: 3,
		LastUsed: map[string]int64{used: now.Add(-time.Minute).Unix()}}}); err != nil {
		t.Fatal(err)
	}
	c := e.consoleAs(t, fsm.RoleSuperAdmin, "", "keys-pages@example.com")
	rows := regexp.MustCompile(`<tr data-key="([^"]+)">`)
	_, _, page := c.req("GET", "/keys", nil)
	got := rows.FindAllStringSubmatch(page, -1)
	if len(got) != keysPerPage || got[0][1] != used || !strings.Contains(page, `id="keys-next"`) || strings.Contains(page, `id="keys-prev"`) {
		t.Fatalf("first page: %d rows, first %v", len(got), got[0])
	}
	first := page[strings.Index(page, `<tr data-key="`+used):]
	first = first[:strings.Index(first, "</tr>")]
	if !strings.Contains(first, now.Add(-time.Minute).In(e.fsm.View().OrgLocation(def)).Format("2006-01-02 15:04")) ||
		!strings.Contains(first, "3 次请求 · 45 tokens · 4.5 CNY") {
		t.Fatalf("the used key's row: %s", first)
	}
	if _, _, page = c.req("GET", "/keys?page=3", nil); len(rows.FindAllString(page, -1)) != 3 || strings.Contains(page, `id="keys-next"`) ||
		!strings.Contains(page, `href="/keys?page=2" id="keys-prev"`) {
		t.Fatalf("last page: %d rows", len(rows.FindAllString(page, -1)))
	}
	if _, _, page = c.req("GET", "/keys?q=svc-007", nil); len(rows.FindAllString(page, -1)) != 1 {
		t.Fatalf("search: %d rows", len(rows.FindAllString(page, -1)))
	}
}

// TestConsoleRunsNoInlineScript: every page's behaviour and look come
// from the node's own script and style files, so its policy allows no
// inline script or style (an injected one would not apply).
func TestConsoleRunsNoInlineScript(t *testing.T) {
	e := newEnv(t)
	oa := e.consoleAs(t, fsm.RoleSuperAdmin, "", "root3@example.com")
	scriptTag := regexp.MustCompile(`<script[^>]*>`)
	handler := regexp.MustCompile(`\son[a-z]+\s*=|javascript:`)
	inlineStyle := regexp.MustCompile(`<style|\sstyle\s*=`)
	for _, p := range append(consolePages, "/login") {
		r, _ := http.NewRequest("GET", e.srv.URL+p, nil)
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: oa.token})
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		html := string(b)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", p, res.StatusCode)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "style-src 'self';") || strings.Contains(csp, "unsafe-") {
			t.Errorf("%s: policy %q", p, csp)
		}
		for _, tag := range scriptTag.FindAllString(html, -1) {
			if !strings.Contains(tag, ` src="/static/`) {
				t.Errorf("%s: inline script %s", p, tag)
			}
		}
		if m := handler.FindString(html); m != "" {
			t.Errorf("%s: inline event handler %q", p, m)
		}
		if m := inlineStyle.FindString(html); m != "" {
			t.Errorf("%s: inline style %q (the policy blocks it)", p, m)
		}
		if !strings.Contains(html, `src="/static/app.js"`) {
			t.Errorf("%s does not load the console's script", p)
		}
	}
}
