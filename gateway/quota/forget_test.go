package quota

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// TestQuietLimitsAreForgotten: a limit nobody used for forgetAfter, with
// nothing held, leaves the manager; the next request brings it back and is
// counted as before.
func TestQuietLimitsAreForgotten(t *testing.T) {
	b := fsmtest.New(t)
	b.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: "k1", OrgID: "org1", Name: "k",
		Prefix: "gk_x", Hash: "0000000000000000000000000000000000000000000000000000000000000001", Scopes: fsm.Capabilities,
		Limits: fsm.Limits{RPM: 100, TPM: 10000}}})
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	b.Now = clock
	m := New(Config{Node: "n1", Now: clock, State: b}, &fakeRaft{b: b})
	ctx := context.Background()
	admit := func() {
		t.Helper()
		done := make(chan struct{})
		go func() { // the request waits for the grant the sync brings
			defer close(done)
			tk, err := m.Admit(ctx, Request{Key: b.View().Key("k1"), Tokens: 10})
			if err != nil {
				t.Error(err)
				return
			}
			tk.Settle(7, 0)
		}()
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				m.SyncOnce(ctx)
			}
		}
	}
	admit()
	if len(m.limits) != 2 {
		t.Fatalf("%d limits tracked, want 2", len(m.limits))
	}
	// Quiet: first the balance goes back, then the limits are forgotten.
	for _, d := range []time.Duration{3 * time.Second, 11 * time.Minute} {
		now.Add(int64(d))
		m.SyncOnce(ctx)
	}
	m.SyncOnce(ctx)
	if len(m.limits) != 0 {
		t.Fatalf("%d limits still tracked after %v quiet", len(m.limits), forgetAfter)
	}
	admit()
	now.Add(int64(time.Second)) // the report is due
	m.SyncOnce(ctx)
	q := b.View().Quota(fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindTPM))
	if q == nil || q.Used(b.View().QuotaLimit(q.Key), clock()) != 7 {
		t.Fatalf("tpm after the limit came back: %+v", q)
	}

	// The metrics carry the cluster-wide state of every configured limit.
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tensorgate_quota_limit A configured limit, cluster-wide: requests or tokens per minute, concurrent requests, or budget in micro-units.
# TYPE tensorgate_quota_limit gauge
tensorgate_quota_limit{id="k1",kind="rpm",scope="key"} 100
tensorgate_quota_limit{id="k1",kind="tpm",scope="key"} 10000
# HELP tensorgate_quota_used What counts against a limit now, cluster-wide: the sliding minute, the budget period, or slots in use.
# TYPE tensorgate_quota_used gauge
tensorgate_quota_used{id="k1",kind="rpm",scope="key"} 1
tensorgate_quota_used{id="k1",kind="tpm",scope="key"} 7
`), "tensorgate_quota_limit", "tensorgate_quota_used"); err != nil {
		t.Fatal(err)
	}
}
