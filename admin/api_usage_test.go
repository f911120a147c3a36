package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

// memEvents is an outbox stand-in: encoded events, seq = index + 1.
type memEvents struct {
	mu  sync.Mutex
	evs [][]byte
}

func (m *memEvents) add(t *testing.T, ev event.Event) {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.evs = append(m.evs, b)
	m.mu.Unlock()
}

func (m *memEvents) ScanBack(before uint64, fn func(uint64, []byte) bool) error {
	m.mu.Lock()
	evs := m.evs
	m.mu.Unlock()
	if before == 0 || before > uint64(len(evs))+1 {
		before = uint64(len(evs)) + 1
	}
	for seq := before - 1; seq >= 1; seq-- {
		if !fn(seq, evs[seq-1]) {
			break
		}
	}
	return nil
}

func TestUsageAndAuditEndpoints(t *testing.T) {
	e := newEnv(t)
	mine := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "mine"}).json(t)["id"].(string)
	def := e.defaultOrg()
	now := time.Now().UTC()
	for i := range 6 {
		org := def
		if i%2 == 1 {
			org = mine
		}
		e.events.add(t, event.Event{RequestID: fmt.Sprintf("req_%d", i), Time: now.Add(-time.Duration(6-i) * time.Minute),
			OrgID: org, KeyID: "key_a", Capability: "llm", Model: "qwen-plus", Status: 200 + 300*(i/5),
			Usage: event.Usage{PromptTokens: 10}, CostMicros: 7, Currency: "CNY", RequestBody: "secret-free body",
			Attempts: []event.Attempt{{Provider: "dashscope", Result: "ok"}}})
	}
	hash, _ := HashPassword("org-admin-password")
	if _, err := e.node.Apply(context.Background(), fsm.Command{Type: fsm.TypeUserUpsert, Body: fsm.UserUpsertBody{Create: true,
		User: fsm.User{ID: "usr_oa", Email: "oa@example.com", PasswordHash: hash, Role: fsm.RoleOrgAdmin, OrgID: mine}}}); err != nil {
		t.Fatal(err)
	}
	orgAdmin := e.login("oa@example.com", "org-admin-password")

	// The super admin sees every org; totals, groups and series.
	r := e.do("GET", "/api/admin/usage?group_by=org&bucket=day", e.token, nil)
	var rep event.UsageReport
	if err := json.Unmarshal(r.body, &rep); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if rep.Source != "local" || rep.Totals.Requests != 6 || rep.Totals.Errors != 1 || rep.Totals.CostMicros["CNY"] != 42 ||
		len(rep.Groups) != 2 || len(rep.Series) == 0 || rep.From.IsZero() {
		t.Fatalf("report %s", r.body)
	}
	// An org admin sees only their org, and may not ask for another.
	r = e.do("GET", "/api/admin/usage", orgAdmin, nil)
	if err := json.Unmarshal(r.body, &rep); err != nil || rep.Totals.Requests != 3 {
		t.Fatalf("org admin usage %s", r.body)
	}
	if r := e.do("GET", "/api/admin/usage?org_id="+def, orgAdmin, nil); r.status != 403 {
		t.Fatalf("org admin reading another org: %d", r.status)
	}
	// Days are the org's (Asia/Shanghai by default), UTC across orgs, or
	// the zone asked for.
	for q, tz := range map[string]string{"": "UTC", "org_id=" + def: "Asia/Shanghai", "tz=Europe/Berlin&org_id=" + def: "Europe/Berlin"} {
		r := e.do("GET", "/api/admin/usage?bucket=day&"+q, e.token, nil)
		if err := json.Unmarshal(r.body, &rep); err != nil || rep.TZ != tz {
			t.Errorf("%s: tz %q, want %q (%s)", q, rep.TZ, tz, r.body)
		}
	}
	for q, param := range map[string]string{
		"bucket=week":                   "bucket",
		"group_by=color":                "group_by",
		"from=yesterday":                "from",
		"from=2026-02-01&to=2026-01-01": "from",
		"orgid=x":                       "orgid",
		"bucket=hour&from=2020-01-01":   "bucket",
		"tz=Mars/Olympus":               "tz",
		"tz=Local":                      "tz",
	} {
		r := e.do("GET", "/api/admin/usage?"+q, e.token, nil)
		if code, p := r.errCode(t); r.status != 400 || p != param {
			t.Errorf("%s: %d %s %s", q, r.status, code, p)
		}
	}

	// Audit: pages newest first, no bodies in lists; one event whole.
	var page event.AuditPage
	var ids []string
	next := ""
	for {
		r := e.do("GET", "/api/admin/audit?limit=2&cursor="+url.QueryEscape(next), e.token, nil)
		page = event.AuditPage{}
		if err := json.Unmarshal(r.body, &page); err != nil || r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		for _, ev := range page.Data {
			if ev.RequestBody != "" {
				t.Fatal("listed with body")
			}
			ids = append(ids, ev.RequestID)
		}
		if next = page.Next; next == "" {
			break
		}
	}
	if fmt.Sprint(ids) != "[req_5 req_4 req_3 req_2 req_1 req_0]" {
		t.Fatalf("pages %v", ids)
	}
	r = e.do("GET", "/api/admin/audit?status=error", e.token, nil)
	if err := json.Unmarshal(r.body, &page); err != nil || len(page.Data) != 1 || page.Data[0].RequestID != "req_5" {
		t.Fatalf("errors only: %s", r.body)
	}
	r = e.do("GET", "/api/admin/audit/req_1", orgAdmin, nil)
	var ev event.Event
	if err := json.Unmarshal(r.body, &ev); err != nil || ev.RequestBody != "secret-free body" || len(ev.Attempts) != 1 {
		t.Fatalf("one event: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/api/admin/audit?request_id=req_1", e.token, nil)
	if err := json.Unmarshal(r.body, &page); err != nil || len(page.Data) != 1 || page.Data[0].RequestBody == "" {
		t.Fatalf("by request_id: %s", r.body)
	}
	for path, want := range map[string]int{
		"/api/admin/audit/req_0":          404, // another org's event does not exist for this admin
		"/api/admin/audit/req_none":       404,
		"/api/admin/audit?limit=0":        400,
		"/api/admin/audit?status=maybe":   400,
		"/api/admin/audit?cursor=garbage": 400,
	} {
		if r := e.do("GET", path, orgAdmin, nil); r.status != want {
			t.Errorf("%s: %d, want %d: %s", path, r.status, want, r.body)
		}
	}
}
