package admin

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

func TestQuotasShowUsageAgainstEveryLimit(t *testing.T) {
	e := newEnv(t)
	def := e.defaultOrg()
	other := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": "other"}).json(t)["id"].(string)
	key := e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "limited", "org_id": def,
		"limits": map[string]any{"rpm": 100, "budget": "5.00", "budget_period": "daily"}}).json(t)
	if key["id"] == nil {
		t.Fatalf("key: %v", key)
	}
	keyID := key["id"].(string)
	e.do("POST", "/api/admin/keys", e.token, map[string]any{"name": "unlimited", "org_id": def})
	if r := e.do("PUT", "/api/admin/orgs/"+other+"/policy", e.token, map[string]any{"limits": map[string]any{"concurrency": 4}}); r.status != 200 {
		t.Fatalf("policy: %d %s", r.status, r.body)
	}
	// A node takes a lease and reports what it spent.
	if _, err := e.node.Apply(context.Background(), fsm.Command{Type: fsm.TypeQuotaSync, Body: fsm.QuotaSyncBody{Node: "n1", TTL: time.Minute,
		Items: []fsm.QuotaSyncItem{{Key: fsm.QuotaKey(fsm.ScopeKey, keyID, fsm.KindRPM), Want: 30}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.node.Apply(context.Background(), fsm.Command{Type: fsm.TypeQuotaSync, Body: fsm.QuotaSyncBody{Node: "n1", TTL: time.Minute,
		Items: []fsm.QuotaSyncItem{{Key: fsm.QuotaKey(fsm.ScopeKey, keyID, fsm.KindRPM), Spent: 12, Want: 12}}}}); err != nil {
		t.Fatal(err)
	}

	var got struct{ Data []fsm.QuotaStatus }
	r := e.do("GET", "/api/admin/quotas", e.token, nil)
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	byKey := map[string]fsm.QuotaStatus{}
	for _, st := range got.Data {
		byKey[st.Key] = st
	}
	rpm := byKey[fsm.QuotaKey(fsm.ScopeKey, keyID, fsm.KindRPM)]
	if len(got.Data) != 3 || rpm.Limit != 100 || rpm.Used != 12 || rpm.Leased != 30 || rpm.Available != 58 ||
		rpm.Leases["n1"].Units != 30 || rpm.ResetsAt.IsZero() {
		t.Fatalf("quotas %s", r.body)
	}
	budget := byKey[fsm.QuotaKey(fsm.ScopeKey, keyID, fsm.KindBudget)]
	if budget.Limit != 5_000_000 || budget.Period == "" || !budget.ResetsAt.After(time.Now()) || budget.ResetsAt.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("budget %+v", budget)
	}
	if c := byKey[fsm.QuotaKey(fsm.ScopeOrg, other, fsm.KindConcurrency)]; c.Limit != 4 || c.OrgID != other {
		t.Fatalf("org concurrency %+v", c)
	}
	// Filters.
	for q, n := range map[string]int{"key_id=" + keyID: 2, "org_id=" + other: 1, "kind=budget": 1, "org_id=" + def + "&kind=tpm": 0} {
		r := e.do("GET", "/api/admin/quotas?"+q, e.token, nil)
		if err := json.Unmarshal(r.body, &got); err != nil || len(got.Data) != n {
			t.Errorf("%s: %d limits, want %d: %s", q, len(got.Data), n, r.body)
		}
	}
	for q, param := range map[string]string{"kind=rps": "kind", "scope=key": "scope"} {
		if r := e.do("GET", "/api/admin/quotas?"+q, e.token, nil); r.status != 400 {
			t.Errorf("%s: %d", q, r.status)
		} else if _, p := r.errCode(t); p != param {
			t.Errorf("%s: param %q", q, p)
		}
	}
}
