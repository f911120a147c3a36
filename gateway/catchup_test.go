package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
)

// lateBarrier is a node behind its leader: a barrier applies the writes
// it had not applied yet.
type lateBarrier struct {
	calls   atomic.Int64
	mu      sync.Mutex
	pending []func()
}

func (l *lateBarrier) Barrier(context.Context) error {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.pending {
		f()
	}
	l.pending = nil
	return nil
}

// TestKeyCreatedElsewhereIsFoundAfterCatchingUp: a key created through
// another node and used at once on this one, which has not applied it
// yet, is served, not refused (seen as a 401 during a rolling restart).
func TestKeyCreatedElsewhereIsFoundAfterCatchingUp(t *testing.T) {
	e := newEnv(t)
	late := &lateBarrier{}
	// A frozen clock: the catch-up budget never refills, so the bound
	// below does not depend on how fast this machine sends the flood.
	frozen := time.Now()
	gw, err := gateway.New(gateway.DefaultConfig(), gateway.Deps{State: e.f, Unsealer: e.sealer, Recorder: e.rec, Barrier: late,
		Registry: prometheus.NewRegistry(), Now: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	e.gw = srv
	secretKey := "gk_created_on_another_node_0123456789"
	sum := sha256.Sum256([]byte(secretKey))
	late.pending = append(late.pending, func() {
		e.apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: "key_late", OrgID: "org1", Name: "late",
			Prefix: secretKey[:10], Hash: hex.EncodeToString(sum[:]), Scopes: fsm.Capabilities}})
	})
	res := e.post("/v1/chat/completions", secretKey, `{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`)
	if res.StatusCode != 200 || late.calls.Load() != 1 {
		t.Fatalf("a key the node caught up with: %d after %d barriers", res.StatusCode, late.calls.Load())
	}
	// A flood of unknown keys costs a bounded number of barriers.
	for range 200 {
		if res := e.post("/v1/chat/completions", "gk_no_such_key_anywhere", `{"model":"gpt-mock","messages":[]}`); res.StatusCode != 401 {
			t.Fatalf("unknown key: %d", res.StatusCode)
		}
	}
	// The budget is 10 barriers at once (then 10 a second): the late key
	// took one, the flood at most the other nine.
	if n := late.calls.Load(); n > 10 {
		t.Fatalf("200 unknown keys made %d barriers", n)
	}
}
