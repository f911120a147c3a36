package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func state(t *testing.T, keys map[string]func(*fsm.Key)) *fsm.State {
	t.Helper()
	b := fsmtest.New(t)
	b.Now = func() time.Time { return now }
	b.Apply(fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: fsm.Policy{OrgID: "org1"}})
	for secret, mut := range keys {
		sum := sha256.Sum256([]byte(secret))
		k := fsm.Key{ID: secret, OrgID: "org1", Name: "k", Hash: hex.EncodeToString(sum[:]), Scopes: []string{"llm"}}
		if mut != nil {
			mut(&k)
		}
		b.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Key: k, Create: true})
		if k.RevokedAt != nil {
			b.Apply(fsm.TypeKeyDelete, fsm.DeleteBody{ID: k.ID})
		}
	}
	return b.View()
}

func TestAuthenticate(t *testing.T) {
	past := now.Add(-time.Minute)
	future := now.Add(time.Minute)
	s := state(t, map[string]func(*fsm.Key){
		"gk_good":     nil,
		"gk_disabled": func(k *fsm.Key) { k.Disabled = true },
		"gk_revoked":  func(k *fsm.Key) { k.RevokedAt = &past },
		"gk_expired":  func(k *fsm.Key) { k.ExpiresAt = &past },
		"gk_expiring": func(k *fsm.Key) { k.ExpiresAt = &future },
	})
	for header, ok := range map[string]bool{
		"Bearer gk_good": true, "Bearer gk_expiring": true,
		"": false, "gk_good": false, "Basic gk_good": false, "Bearer sk-good": false, "Bearer gk_unknown": false,
		"Bearer gk_disabled": false, "Bearer gk_revoked": false, "Bearer gk_expired": false,
	} {
		p, err := Authenticate(s, header, now)
		if ok != (err == nil) {
			t.Errorf("%q: err %v", header, err)
			continue
		}
		if err != nil && (err.Status != 401 || err.Code != "invalid_api_key") {
			t.Errorf("%q: %d %s", header, err.Status, err.Code)
		}
		if ok && (p.Org == nil || p.Policy == nil || p.Key.ID == "") {
			t.Errorf("%q: principal %+v", header, p)
		}
	}
}

func TestScopesModelsProviders(t *testing.T) {
	p := Principal{
		Key:    &fsm.Key{Scopes: []string{"asr", "/v1/embeddings"}, Models: []string{"m1"}},
		Policy: &fsm.Policy{AllowedProviders: []string{"dashscope"}},
	}
	for _, tc := range []struct {
		capability, path string
		ok               bool
	}{
		{"asr", "/v1/audio/transcriptions", true},
		{"llm", "/v1/embeddings", true},
		{"llm", "/v1/chat/completions", false},
		{"image", "/v1/images/generations", false},
	} {
		if err := p.AllowPath(tc.capability, tc.path); (err == nil) != tc.ok {
			t.Errorf("AllowPath(%s, %s) = %v", tc.capability, tc.path, err)
		} else if err != nil && err.Status != 403 {
			t.Errorf("AllowPath status %d", err.Status)
		}
	}
	if p.AllowModel("m1") != nil || p.AllowModel("m2") == nil {
		t.Error("model allow-list not applied")
	}
	if !p.AllowProvider("dashscope") || p.AllowProvider("deepseek") {
		t.Error("provider allocation not applied")
	}
	open := Principal{Key: &fsm.Key{}}
	if open.AllowModel("any") != nil || !open.AllowProvider("any") {
		t.Error("empty lists must allow everything")
	}
}
