package fsm_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// quotaEnv is a state with one key whose limits the test sets, and a
// clock the test moves.
type quotaEnv struct {
	t   *testing.T
	b   *fsmtest.Builder
	now time.Time
}

func newQuotaEnv(t *testing.T, l fsm.Limits, start time.Time) *quotaEnv {
	e := &quotaEnv{t: t, b: fsmtest.New(t), now: start}
	e.b.Now = func() time.Time { return e.now }
	e.b.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: "k1", OrgID: "org1", Name: "k",
		Prefix: "gk_x", Hash: "0000000000000000000000000000000000000000000000000000000000000001", Scopes: fsm.Capabilities, Limits: l}})
	return e
}

// sync runs one node's sync of one item and returns the grant.
func (e *quotaEnv) sync(node, key string, spent, ret, want int64) fsm.QuotaGrant {
	e.t.Helper()
	grants := fsmtest.ApplyAs[fsm.QuotaGrants](e.b, fsm.TypeQuotaSync, fsm.QuotaSyncBody{Node: node, TTL: 10 * time.Second,
		Items: []fsm.QuotaSyncItem{{Key: key, Spent: spent, Return: ret, Want: want}}})
	return (*grants)[0]
}

func (e *quotaEnv) at(d time.Duration, start time.Time) { e.now = start.Add(d) }

func TestRPMLeasesNeverExceedTheLimit(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 10, 0, time.UTC)
	e := newQuotaEnv(t, fsm.Limits{RPM: 100}, start)
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindRPM)
	if g := e.sync("a", key, 0, 0, 60); g.Granted != 60 || g.Held != 60 || g.Available != 40 || g.Limit != 100 {
		t.Fatalf("a: %+v", g)
	}
	if g := e.sync("b", key, 0, 0, 60); g.Granted != 40 || g.Available != 0 {
		t.Fatalf("b: %+v", g)
	}
	if g := e.sync("c", key, 0, 0, 10); g.Granted != 0 {
		t.Fatalf("c got %+v with nothing left", g)
	}
	// a spent everything at second 10; b hands its lease back.
	if g := e.sync("a", key, 60, 0, 0); g.Held != 0 || g.Available != 0 {
		t.Fatalf("a report: %+v", g)
	}
	if g := e.sync("b", key, 0, 40, 0); g.Available != 40 || !g.FreesAt.Equal(start.Add(60*time.Second)) {
		t.Fatalf("b return: %+v", g)
	}
	// The 60 units stay in the window until second 70 exactly.
	e.at(59*time.Second+999*time.Millisecond, start)
	if g := e.sync("c", key, 0, 0, 100); g.Granted != 40 {
		t.Fatalf("just before the window slides: %+v", g)
	}
	e.at(60*time.Second, start)
	if g := e.sync("c", key, 0, 0, 100); g.Granted != 60 || g.Held != 100 {
		t.Fatalf("after the window slid: %+v", g)
	}
}

func TestExpiredLeaseCountsAsSpent(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	e := newQuotaEnv(t, fsm.Limits{RPM: 100, Concurrency: 5}, start)
	rpm := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindRPM)
	e.sync("dead", rpm, 0, 0, 50) // expires at 10 s and never reports
	e.at(11*time.Second, start)
	// The dead node's 50 may have been spent: they count at second 10.
	if g := e.sync("b", rpm, 0, 0, 100); g.Granted != 50 {
		t.Fatalf("after expiry: %+v", g)
	}
	st := e.b.View().Quota(rpm)
	if _, ok := st.Leases["dead"]; ok {
		t.Fatal("expired lease kept")
	}
	// At 70 s second 10 has left the window; b's own lease, not renewed
	// since 11 s, ran out at 21 s and counts there.
	e.at(70*time.Second, start)
	if g := e.sync("c", rpm, 0, 0, 100); g.Granted != 50 || g.Held != 50 {
		t.Fatalf("after the window: %+v", g)
	}

	// Concurrency slots of a dead node simply come back.
	conc := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindConcurrency)
	e.sync("dead", conc, 0, 0, 5)
	if g := e.sync("b", conc, 0, 0, 1); g.Granted != 0 {
		t.Fatalf("slot granted twice: %+v", g)
	}
	e.at(81*time.Second, start)
	if g := e.sync("b", conc, 0, 0, 5); g.Granted != 5 {
		t.Fatalf("dead node's slots: %+v", g)
	}
	if g := e.sync("b", conc, 0, 3, 0); g.Held != 2 || g.Available != 3 {
		t.Fatalf("returned slots: %+v", g)
	}
}

func TestBudgetPeriodsFollowTheOrgCalendar(t *testing.T) {
	// 23:59:59 on 30 November in Shanghai.
	start := time.Date(2026, 11, 30, 15, 59, 59, 0, time.UTC)
	e := newQuotaEnv(t, fsm.Limits{Budget: 1000, BudgetPeriod: fsm.PeriodMonthly}, start)
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindBudget)
	e.sync("a", key, 0, 0, 100)
	// Real usage beat the reservation: the excess counts too.
	if g := e.sync("a", key, 150, 0, 0); g.Held != 0 || g.Available != 850 {
		t.Fatalf("debt: %+v", g)
	}
	if q := e.b.View().Quota(key); q.Period != "2026-11" || q.Spent != 150 {
		t.Fatalf("period %q spent %d", q.Period, q.Spent)
	}
	e.at(time.Second, start) // midnight, 1 December in Shanghai
	if g := e.sync("a", key, 0, 0, 1000); g.Granted != 1000 {
		t.Fatalf("new month: %+v", g)
	}
	if q := e.b.View().Quota(key); q.Period != "2026-12" || q.Spent != 0 {
		t.Fatalf("period %q spent %d", q.Period, q.Spent)
	}

	for _, tc := range []struct {
		period string
		at     time.Time
		want   string
	}{
		{fsm.PeriodDaily, time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC), "2026-03-01"},
		{fsm.PeriodDaily, time.Date(2026, 2, 28, 15, 59, 59, 0, time.UTC), "2026-02-28"},
		{fsm.PeriodMonthly, time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC), "2027-01"},
		{fsm.PeriodTotal, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), "total"},
	} {
		loc, _ := time.LoadLocation(fsm.DefaultTimeZone)
		if got := fsm.BudgetPeriodKey(tc.period, tc.at, loc); got != tc.want {
			t.Errorf("%s at %v: %s, want %s", tc.period, tc.at, got, tc.want)
		}
		// The period starts at its first instant on the org's calendar.
		start := fsm.BudgetPeriodStart(tc.period, tc.at, loc)
		if tc.period == fsm.PeriodTotal {
			if !start.IsZero() {
				t.Errorf("total period starts at %v", start)
			}
			continue
		}
		if fsm.BudgetPeriodKey(tc.period, start, loc) != tc.want || fsm.BudgetPeriodKey(tc.period, start.Add(-time.Second), loc) == tc.want {
			t.Errorf("%s at %v starts at %v", tc.period, tc.at, start)
		}
	}
}

func TestQuotaClockNeverRunsBackwards(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 30, 0, time.UTC)
	e := newQuotaEnv(t, fsm.Limits{RPM: 10}, start)
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindRPM)
	e.sync("a", key, 0, 0, 10)
	// A node whose clock is 40 s behind reports: its units land at the
	// fsm's latest time, not 40 s in the past.
	e.at(-40*time.Second, start)
	e.sync("a", key, 10, 0, 0)
	e.at(50*time.Second, start) // 50 s after the latest report
	if g := e.sync("b", key, 0, 0, 10); g.Granted != 0 {
		t.Fatalf("capacity freed early by a slow clock: %+v", g)
	}
}

func TestRemovedLimitAndBadSyncs(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	e := newQuotaEnv(t, fsm.Limits{RPM: 10}, start)
	key := fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindRPM)
	e.sync("a", key, 0, 0, 5)
	if g := e.sync("a", fsm.QuotaKey(fsm.ScopeKey, "k1", fsm.KindTPM), 0, 0, 5); g.Limit != 0 || g.Granted != 0 {
		t.Fatalf("no TPM limit: %+v", g)
	}
	for _, body := range []fsm.QuotaSyncBody{
		{TTL: time.Second, Items: []fsm.QuotaSyncItem{{Key: key}}},
		{Node: "a", Items: []fsm.QuotaSyncItem{{Key: key}}},
		{Node: "a", TTL: time.Hour, Items: []fsm.QuotaSyncItem{{Key: key}}},
		{Node: "a", TTL: time.Second, Items: []fsm.QuotaSyncItem{{Key: "key:k1:qps"}}},
		{Node: "a", TTL: time.Second, Items: []fsm.QuotaSyncItem{{Key: key, Want: -1}}},
	} {
		if _, err := e.b.FSM.ApplyCommand(999, fsm.Command{Type: fsm.TypeQuotaSync, Time: e.now, Body: body}); !fsm.IsCode(err, fsm.CodeInvalid) {
			t.Errorf("%+v: %v", body, err)
		}
	}
	// Snapshots carry quotas and the quota clock.
	var buf bytes.Buffer
	if err := fsm.WriteSnapshot(&buf, e.b.View()); err != nil {
		t.Fatal(err)
	}
	s, err := fsm.ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if q := s.Quota(key); q == nil || q.Leases["a"].Units != 5 || !s.QuotaClock.Equal(e.now) {
		t.Fatalf("snapshot quotas %+v clock %v", s.Quota(key), s.QuotaClock)
	}
}

func TestParseQuotaKey(t *testing.T) {
	for in, ok := range map[string]bool{
		"key:k1:rpm": true, "org:org:with:colons:budget": true, "key::rpm": false, "user:x:rpm": false, "key:x:qps": false, "rpm": false,
	} {
		if _, _, _, got := fsm.ParseQuotaKey(in); got != ok {
			t.Errorf("%s: %v", in, got)
		}
	}
}
