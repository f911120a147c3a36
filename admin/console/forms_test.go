package console

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestFormsReadIntoPatches: the console's forms become the operations'
// patches directly, as the API's requests did before: a blank field keeps
// a value, a write-only secret is set only when given.
func TestFormsReadIntoPatches(t *testing.T) {
	form := url.Values{"name": {" svc "}, "org_id": {"org_1"}, "scopes": {"llm"}, "paths": {"/v1/chat, /v1/x"},
		"models": {"a, ,b"}, "rpm": {"7"}, "budget": {"1.5"}, "budget_period": {"daily"}, "expires_at": {"2027-01-02T03:04"}}
	r := httptest.NewRequest("POST", "/keys", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p, err := keyForm(r)
	if err != nil {
		t.Fatal(err)
	}
	if *p.Name != "svc" || *p.OrgID != "org_1" || strings.Join(*p.Scopes, "|") != "llm|/v1/chat|/v1/x" || strings.Join(*p.Models, "|") != "a|b" ||
		*p.Limits.RPM != 7 || p.Limits.TPM != nil || *p.Limits.Budget != 1_500_000 || *p.Limits.BudgetPeriod != "daily" ||
		!p.SetExpiresAt || p.ExpiresAt.Minute() != 4 || p.Disabled != nil {
		t.Fatalf("key patch %+v", p)
	}
	r = httptest.NewRequest("POST", "/keys", strings.NewReader(url.Values{"budget": {"-1"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := keyForm(r); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("a negative budget: %v", err)
	}

	for _, tc := range []struct {
		key     string
		clear   bool
		set     bool
		enabled bool
	}{{"", false, false, true}, {"sk-1", false, true, true}, {"", true, true, true}} {
		v := url.Values{"name": {"P"}, "slug": {"p"}, "format": {""}, "models": {"m1,m2"}, "api_key": {tc.key}}
		if tc.clear {
			v.Set("clear_key", "1")
		}
		r := httptest.NewRequest("POST", "/cap/llm/providers", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p := providerForm(r, "llm", true)
		if p.SetAPIKey != tc.set || p.APIKey != tc.key || p.Format != nil || *p.Enabled != tc.enabled || (*p.Capabilities)[0] != "llm" || len(*p.Models) != 2 {
			t.Errorf("provider patch for key %q clear %v: %+v", tc.key, tc.clear, p)
		}
	}

	v := url.Values{"webhook_url": {" https://h.example "}, "webhook_secret": {"s3"}, "partition": {"fail_open"}}
	r = httptest.NewRequest("POST", "/routing/policies/o", strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	pp, err := policyForm(r, false)
	if err != nil || *pp.Alerts.WebhookURL != "https://h.example" || !pp.Alerts.SetSecret || pp.Alerts.Secret != "s3" || pp.Partition != nil || pp.Limits != nil {
		t.Fatalf("an org admin's policy patch: %+v %v", pp, err)
	}
	if pp, err = policyForm(r, true); err != nil || *pp.Partition != "fail_open" || pp.AllowedProviders == nil {
		t.Fatalf("a super admin's policy patch: %+v %v", pp, err)
	}
}
