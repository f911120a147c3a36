package alert

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/breaker"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// Viewer reads the replicated state.
type Viewer interface {
	View() *fsm.State
}

// Unsealer opens the orgs' webhook secrets.
type Unsealer interface {
	Open(purpose string, sealed []byte) ([]byte, error)
}

// Cluster is what the node-loss watch needs of the cluster.
type Cluster interface {
	IsLeader() bool
	// Lost lists the raft members gossip no longer sees alive.
	Lost(ctx context.Context) ([]string, error)
}

// DefaultBudgetThresholds are the percents of a budget that alert when an
// org's policy names none.
var DefaultBudgetThresholds = []int{80, 100}

// BurstRefusals is how many refusals by one limit within a minute on a
// node make a quota_exhausted alert.
const BurstRefusals = 10

// Watcher turns what the node sees into alerts: its breakers'
// transitions, its limits' refusal bursts, and, on the leader, budgets
// crossing thresholds and nodes lost.
type Watcher struct {
	Sender   *Sender
	State    Viewer
	Unsealer Unsealer
	Now      func() time.Time

	mu      sync.Mutex
	refused map[string]*burst // quota key -> refusals this minute
	budgets map[string]bool   // key|period|threshold already alerted
	lost    map[string]bool   // nodes alerted as lost, until back
}

type burst struct {
	minute int64
	n      int
}

func (w *Watcher) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// orgTargets lists the webhooks of the orgs match selects.
func (w *Watcher) orgTargets(match func(p *fsm.Policy) bool) []Target {
	var out []Target
	for _, p := range w.State.View().Policies {
		if p.Alerts.WebhookURL == "" || !match(p) {
			continue
		}
		t := Target{URL: p.Alerts.WebhookURL}
		if len(p.Alerts.SecretCipher) > 0 && w.Unsealer != nil {
			if sec, err := w.Unsealer.Open(secret.AlertSecretPurpose(p.OrgID), p.Alerts.SecretCipher); err == nil {
				t.Secret = sec
			}
		}
		out = append(out, t)
	}
	return out
}

// BreakerChanged alerts on a breaker this node opened or closed; orgs that
// may use the provider hear of it too.
func (w *Watcher) BreakerChanged(k breaker.Key, tr breaker.Transition) {
	var typ, sev, msg string
	switch tr.To {
	case breaker.Open:
		typ, sev = TypeBreakerOpen, "warning"
		msg = fmt.Sprintf("upstream %s model %s is failing; calls skip it until %s", k.Provider, k.Model, tr.Until.UTC().Format(time.RFC3339))
	case breaker.Closed:
		typ, sev = TypeBreakerClosed, "info"
		msg = fmt.Sprintf("upstream %s model %s recovered", k.Provider, k.Model)
	default:
		return // half-open is the node's own probing
	}
	now := w.now()
	a := Alert{ID: fmt.Sprintf("%s:%s/%s/%s:%d", typ, k.Provider, k.Model, k.Org, now.Unix()/60), Type: typ, Severity: sev,
		OrgID: k.Org, Message: msg, Details: map[string]any{"provider": k.Provider, "model": k.Model, "reason": tr.Reason}}
	if !tr.Until.IsZero() {
		a.Details["until"] = tr.Until.UTC()
	}
	w.Sender.Send(a, w.orgTargets(func(p *fsm.Policy) bool {
		if k.Org != "" {
			return p.OrgID == k.Org
		}
		return len(p.AllowedProviders) == 0 || slices.Contains(p.AllowedProviders, k.Provider)
	})...)
}

// Refused counts a refusal by a limit (a quota key) and alerts once a
// minute's refusals reach BurstRefusals.
func (w *Watcher) Refused(key string) {
	now := w.now()
	minute := now.Unix() / 60
	w.mu.Lock()
	if w.refused == nil {
		w.refused = map[string]*burst{}
	}
	b := w.refused[key]
	if b == nil || b.minute != minute {
		if len(w.refused) > 10_000 {
			clear(w.refused) // bounded: only this minute matters
		}
		b = &burst{minute: minute}
		w.refused[key] = b
	}
	b.n++
	fire := b.n == BurstRefusals
	w.mu.Unlock()
	if !fire {
		return
	}
	scope, id, kind, _ := fsm.ParseQuotaKey(key)
	org := id
	if scope == fsm.ScopeKey {
		if k := w.State.View().Key(id); k != nil {
			org = k.OrgID
		}
	}
	w.Sender.Send(Alert{ID: fmt.Sprintf("%s:%s:%d", TypeQuotaExhausted, key, minute), Type: TypeQuotaExhausted, Severity: "warning",
		OrgID:   org,
		Message: fmt.Sprintf("the %s %s's %s limit refused %d requests within a minute", scope, id, kind, BurstRefusals),
		Details: map[string]any{"scope": scope, "id": id, "kind": kind}},
		w.orgTargets(func(p *fsm.Policy) bool { return p.OrgID == org })...)
}

// CheckBudgets alerts on every budget that crossed one of its org's
// thresholds in its current period, once per threshold and period. The
// leader runs it, so each crossing is reported by one node.
func (w *Watcher) CheckBudgets() {
	st := w.State.View()
	now := w.now()
	for _, q := range st.QuotaStatuses(now, nil) {
		if q.Kind != fsm.KindBudget || q.Limit <= 0 {
			continue
		}
		thresholds := DefaultBudgetThresholds
		if p := st.Policies[q.OrgID]; p != nil && len(p.Alerts.BudgetThresholds) > 0 {
			thresholds = p.Alerts.BudgetThresholds
		}
		pct := q.Used * 100 / q.Limit
		for _, th := range thresholds {
			if pct < int64(th) {
				continue
			}
			id := fmt.Sprintf("%s:%s:%s:%d", TypeBudgetThreshold, q.Key, q.Period, th)
			w.mu.Lock()
			if w.budgets == nil || len(w.budgets) > 100_000 {
				w.budgets = map[string]bool{} // old periods' entries go too
			}
			done := w.budgets[id]
			w.budgets[id] = true
			w.mu.Unlock()
			if done {
				continue
			}
			sev := "warning"
			if th >= 100 {
				sev = "critical"
			}
			w.Sender.Send(Alert{ID: id, Type: TypeBudgetThreshold, Severity: sev, OrgID: q.OrgID,
				Message: fmt.Sprintf("the %s %s has used %d%% of its %s budget", q.Scope, q.ID, pct, q.Period),
				Details: map[string]any{"scope": q.Scope, "id": q.ID, "threshold": th, "used_micros": q.Used,
					"limit_micros": q.Limit, "period": q.Period}},
				w.orgTargets(func(p *fsm.Policy) bool { return p.OrgID == q.OrgID })...)
		}
	}
}

// checkNodes alerts once for each raft member gossip lost, until it is
// back.
func (w *Watcher) checkNodes(ctx context.Context, c Cluster) {
	lost, err := c.Lost(ctx)
	if err != nil {
		return
	}
	w.mu.Lock()
	if w.lost == nil {
		w.lost = map[string]bool{}
	}
	var fresh []string
	for id := range w.lost {
		if !slices.Contains(lost, id) {
			delete(w.lost, id) // back: a later loss alerts again
		}
	}
	for _, id := range lost {
		if !w.lost[id] {
			w.lost[id] = true
			fresh = append(fresh, id)
		}
	}
	w.mu.Unlock()
	for _, id := range fresh {
		now := w.now()
		w.Sender.Send(Alert{ID: fmt.Sprintf("%s:%s:%d", TypeNodeLost, id, now.Unix()/60), Type: TypeNodeLost, Severity: "critical",
			Message: fmt.Sprintf("cluster node %s stopped answering", id), Details: map[string]any{"node": id}})
	}
}

// Run checks budgets and nodes every interval while this node leads.
func (w *Watcher) Run(ctx context.Context, c Cluster, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.IsLeader() {
			continue
		}
		w.CheckBudgets()
		w.checkNodes(ctx, c)
	}
}
