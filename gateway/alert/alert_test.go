package alert

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
	"github.com/tensorgate/tensorgate/gateway/breaker"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// receiver is a webhook that checks signatures and keeps what it got.
type receiver struct {
	t      *testing.T
	secret []byte
	fail   atomic.Int64 // answer 500 this many more times
	mu     sync.Mutex
	got    []Alert
	posts  atomic.Int64
	srv    *httptest.Server
}

func newReceiver(t *testing.T, sec []byte) *receiver {
	r := &receiver{t: t, secret: sec}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.posts.Add(1)
		body, _ := io.ReadAll(req.Body)
		if r.fail.Add(-1) >= 0 {
			w.WriteHeader(500)
			return
		}
		if want := Sign(r.secret, req.Header.Get(HeaderTimestamp), body); len(r.secret) > 0 && !hmac.Equal([]byte(want), []byte(req.Header.Get(HeaderSignature))) {
			t.Errorf("bad signature %q", req.Header.Get(HeaderSignature))
		}
		var a Alert
		if err := json.Unmarshal(body, &a); err != nil || a.ID != req.Header.Get(HeaderID) {
			t.Errorf("body %s", body)
		}
		r.mu.Lock()
		r.got = append(r.got, a)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) alerts() []Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Alert(nil), r.got...)
}

// wait waits until the receiver holds n alerts, then a little longer to
// catch any extra.
func (r *receiver) wait(n int) []Alert {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(r.alerts()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	return r.alerts()
}

func TestSenderSignsRetriesDedupesAndLimits(t *testing.T) {
	sys := newReceiver(t, []byte("system-secret"))
	sys.fail.Store(2)
	s := New(Config{Node: "n1", System: Target{URL: sys.srv.URL, Secret: []byte("system-secret")}, Backoff: time.Millisecond, PerMinute: 3})
	defer s.Close()
	a := Alert{ID: "a1", Type: TypeNodeLost, Severity: "critical", Message: "m"}
	s.Send(a)
	s.Send(a) // a repeat: dropped
	if got := sys.wait(1); len(got) != 1 || got[0].Node != "n1" || got[0].Time.IsZero() || sys.posts.Load() != 3 {
		t.Fatalf("got %+v after %d posts", got, sys.posts.Load())
	}
	// Three a minute: of four new alerts, two more pass (one token was
	// spent on a1).
	for _, id := range []string{"b", "c", "d", "e"} {
		s.Send(Alert{ID: id, Type: TypeNodeLost})
	}
	if got := sys.wait(3); len(got) != 3 {
		t.Fatalf("%d alerts past a limit of 3 a minute", len(got))
	}
}

func TestWatcherRoutesAlertsToOrgs(t *testing.T) {
	b := fsmtest.New(t)
	sealer, _ := secret.New("alert-test-secret-0123456")
	b.Apply(fsm.TypeOrgUpsert, fsm.OrgUpsertBody{Org: fsm.Org{ID: "org2", Name: "other"}, Create: true})
	for _, slug := range []string{"dashscope", "deepseek"} {
		b.Apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Create: true, Provider: fsm.Provider{Slug: slug, Name: slug,
			Format: fsm.FormatOpenAI, BaseURL: "http://" + slug, APIPath: "/v1/chat/completions", Models: []string{"m"}, Enabled: true}})
	}
	org1 := newReceiver(t, []byte("org1-secret"))
	org2 := newReceiver(t, nil)
	b.Apply(fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: fsm.Policy{OrgID: "org1", AllowedProviders: []string{"dashscope"},
		Alerts: fsm.Alerts{WebhookURL: org1.srv.URL, SecretCipher: sealer.Seal(secret.AlertSecretPurpose("org1"), []byte("org1-secret")),
			BudgetThresholds: []int{50, 100}}}})
	b.Apply(fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: fsm.Policy{OrgID: "org2", AllowedProviders: []string{"deepseek"},
		Alerts: fsm.Alerts{WebhookURL: org2.srv.URL}}})
	sys := newReceiver(t, nil)
	s := New(Config{Node: "n1", System: Target{URL: sys.srv.URL}, Backoff: time.Millisecond})
	defer s.Close()
	w := &Watcher{Sender: s, State: b, Unsealer: sealer}

	// A breaker on dashscope: the system and org1 (which uses it) hear.
	w.BreakerChanged(breaker.Key{Provider: "dashscope", Model: "qwen"}, breaker.Transition{From: breaker.Closed, To: breaker.Open, Until: time.Now().Add(time.Minute), Reason: "consecutive_failures"})
	w.BreakerChanged(breaker.Key{Provider: "dashscope", Model: "qwen"}, breaker.Transition{From: breaker.Closed, To: breaker.HalfOpen})
	if got := org1.wait(1); len(got) != 1 || got[0].Type != TypeBreakerOpen || len(sys.wait(1)) != 1 || len(org2.alerts()) != 0 {
		t.Fatalf("breaker alert: org1 %+v, system %d, org2 %d", got, len(sys.alerts()), len(org2.alerts()))
	}

	// A key of org1 with a budget, 60% spent: the 50% threshold fires
	// once; at 100%, the second.
	b.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: "k1", OrgID: "org1", Name: "k", Prefix: "gk_x",
		Hash: "0000000000000000000000000000000000000000000000000000000000000001", Scopes: fsm.Capabilities,
		Limits: fsm.Limits{Budget: 1000, BudgetPeriod: fsm.PeriodTotal}}})
	spend := func(n int64) {
		b.Apply(fsm.TypeQuotaSync, fsm.QuotaSyncBody{Node: "n1", TTL: time.Minute,
			Items: []fsm.QuotaSyncItem{{Key: fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindBudget), Spent: n}}})
	}
	spend(600)
	w.CheckBudgets()
	w.CheckBudgets()
	spend(400)
	w.CheckBudgets()
	got := org1.wait(3)
	if len(got) != 3 || got[1].Details["threshold"] != 50.0 || got[2].Details["threshold"] != 100.0 || got[2].Severity != "critical" {
		t.Fatalf("budget alerts %+v", got)
	}

	// Refusal bursts: the tenth refusal in a minute alerts, once.
	for range 25 {
		w.Refused(fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindRPM))
	}
	if got := org1.wait(4); len(got) != 4 || got[3].Type != TypeQuotaExhausted {
		t.Fatalf("burst alerts %+v", got)
	}

	// A node lost alerts the system webhook once, and again only after it
	// came back and was lost again.
	c := &fakeCluster{lost: []string{"n3"}}
	ctx := context.Background()
	w.checkNodes(ctx, c)
	w.checkNodes(ctx, c)
	if got := sys.wait(2 + 1 + 1 + 1); countType(got, TypeNodeLost) != 1 {
		t.Fatalf("node alerts %+v", got)
	}
}

type fakeCluster struct{ lost []string }

func (f *fakeCluster) IsLeader() bool                         { return true }
func (f *fakeCluster) Lost(context.Context) ([]string, error) { return f.lost, nil }

func countType(as []Alert, typ string) int {
	n := 0
	for _, a := range as {
		if a.Type == typ {
			n++
		}
	}
	return n
}
