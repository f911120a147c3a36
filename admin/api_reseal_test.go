package admin

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// TestResealRotatesTheAuthSecret: with the new secret current and the old
// one previous, reseal puts every stored secret under the new one; the
// old secret is then no longer needed.
func TestResealRotatesTheAuthSecret(t *testing.T) {
	e := newEnv(t)
	if r := e.do("POST", "/api/admin/providers", e.token, map[string]any{"name": "Own", "slug": "own", "base_url": "http://own.example", "models": "m", "api_key": "sk-provider-key"}); r.status != 201 {
		t.Fatalf("provider: %d %s", r.status, r.body)
	}
	org := e.defaultOrg()
	if r := e.do("PUT", "/api/admin/orgs/"+org+"/policy", e.token, map[string]any{"own_keys": map[string]string{"own": "sk-org-key"},
		"alerts": map[string]any{"webhook_url": "https://hooks.example/x", "secret": "hook-secret"}}); r.status != 200 {
		t.Fatalf("policy: %d %s", r.status, r.body)
	}
	// Every node restarts with the new secret and the old as previous.
	rotated, err := NewKeyring("the-new-secret-0123456789", "test-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Version: "test"}, Deps{Applier: e.node, Viewer: e.fsm, Cluster: e.node, Keyring: rotated, Gatherer: prometheus.NewRegistry(), Usage: &event.Local{Events: e.events}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	e.srv = srv
	tok := e.login(DefaultAdminEmail, DefaultAdminPassword) // sessions under the old secret ended
	r := e.do("POST", "/api/admin/secrets/reseal", tok, nil)
	var got resealResult
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 || got.Providers != 1 || got.Policies != 1 || len(got.Failed) != 0 {
		t.Fatalf("reseal: %d %s", r.status, r.body)
	}
	// The new secret alone opens everything now.
	only, _ := secret.New("the-new-secret-0123456789")
	st := e.fsm.View()
	for purpose, sealed := range map[string][]byte{
		secret.ProviderPurpose("own"):    st.Providers["own"].APIKeyCipher,
		secret.OrgKeyPurpose(org, "own"): st.Policies[org].OwnKeys["own"],
		secret.AlertSecretPurpose(org):   st.Policies[org].Alerts.SecretCipher,
	} {
		if _, err := only.Open(purpose, sealed); err != nil {
			t.Errorf("%s does not open under the new secret alone", purpose)
		}
	}
	if r := e.do("POST", "/api/admin/secrets/reseal", e.token, nil); r.status != 401 {
		t.Fatalf("an old session resealed: %d", r.status)
	}
}
