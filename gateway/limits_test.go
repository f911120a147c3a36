package gateway_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/quota"
)

// commitFunc lets the env's builder commit the quota manager's syncs.
type commitFunc func(context.Context, fsm.Command) (any, error)

func (f commitFunc) Apply(ctx context.Context, c fsm.Command) (any, error) { return f(ctx, c) }

func TestLimitsAnswer429(t *testing.T) {
	e := newEnv(t)
	m := quota.New(quota.Config{Node: "test-node"}, commitFunc(e.b.Commit))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	gw, err := gateway.New(gateway.DefaultConfig(), gateway.Deps{State: e.f, Unsealer: e.sealer, Recorder: e.rec, Limiter: m, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	e.gw = srv
	e.apply(fsm.TypePriceUpsert, fsm.PriceUpsertBody{Price: fsm.Price{Model: "gpt-mock", Currency: "CNY",
		Rates: map[string]int64{fsm.UnitPromptToken: 1_000_000 * 1_000_000, fsm.UnitCompletionToken: 1_000_000 * 1_000_000}}})
	chat := `{"model":"gpt-mock","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`

	rpmKey, _ := e.addKey(func(k *fsm.Key) { k.Limits = fsm.Limits{RPM: 3} })
	for i := range 4 {
		res := e.post("/v1/chat/completions", rpmKey, chat)
		body, _ := io.ReadAll(res.Body)
		if i < 3 && res.StatusCode != 200 {
			t.Fatalf("call %d: %d %s", i, res.StatusCode, body)
		}
		if i == 3 {
			ra, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			if res.StatusCode != 429 || !strings.Contains(string(body), `"rate_limit_exceeded"`) || ra < 60 || ra > 61 {
				t.Fatalf("over the rpm: %d %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
			}
			if ev := lastEvent(t, e); ev.Status != 429 || ev.ErrorCode != "rate_limit_exceeded" {
				t.Fatalf("refusal event %+v", ev)
			}
		}
	}

	// A budget a few calls deep: each call reserves its priced estimate
	// (prompt and max_tokens), so once that no longer fits the call is
	// refused before any upstream is called.
	budgetKey, _ := e.addKey(func(k *fsm.Key) { k.Limits = fsm.Limits{Budget: 2 * 40, BudgetPeriod: fsm.PeriodTotal} })
	before := e.oa.Requests()
	codes := []int{}
	for range 4 {
		res := e.post("/v1/chat/completions", budgetKey, chat)
		body, _ := io.ReadAll(res.Body)
		codes = append(codes, res.StatusCode)
		// The answered call's record says what it spent of which lease:
		// what a node back from a crash settles its leases with.
		if ev := lastEvent(t, e); res.StatusCode == 200 && (len(ev.Spends) != 1 || ev.Spends[0].Lease == 0 ||
			ev.Spends[0].Units != ev.CostMicros || ev.Spends[0].Key != fsm.QuotaKey(fsm.ScopeKey, ev.KeyID, fsm.KindBudget)) {
			t.Fatalf("spends %+v of an event costing %d", ev.Spends, ev.CostMicros)
		}
		if res.StatusCode == 429 && (!strings.Contains(string(body), `"insufficient_quota"`) ||
			res.Header.Get("x-should-retry") != "false" || res.Header.Get("Retry-After") != "") {
			t.Fatalf("budget refusal %q %q %s", res.Header.Get("x-should-retry"), res.Header.Get("Retry-After"), body)
		}
	}
	if codes[3] != 429 || e.oa.Requests()-before > 3 {
		t.Fatalf("budget calls %v, %d upstream requests", codes, e.oa.Requests()-before)
	}
}
