package fsm

import (
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // budget periods follow org time zones the same way on every node
)

// Limit kinds, the last part of a quota key.
const (
	KindRPM         = "rpm"
	KindTPM         = "tpm"
	KindConcurrency = "concurrency"
	KindBudget      = "budget"
)

// Scopes a limit applies to.
const (
	ScopeKey = "key"
	ScopeOrg = "org"
	// ScopeAlloc is an org's allocation on one provider (its policy's
	// allocation concurrency); its id is AllocID(org, provider).
	ScopeAlloc = "alloc"
)

// AllocID names an org's allocation on a provider.
func AllocID(orgID, provider string) string { return orgID + "/" + provider }

// QuotaWindow is the sliding window of RPM and TPM limits, kept in one
// second buckets.
const QuotaWindow = 60 * time.Second

// MaxLeaseTTL bounds how long a lease may live without being renewed.
const MaxLeaseTTL = 10 * time.Minute

// QuotaKey names one limit, "key:<id>:rpm" or "org:<id>:budget".
func QuotaKey(scope, id, kind string) string { return scope + ":" + id + ":" + kind }

// ParseQuotaKey splits a quota key.
func ParseQuotaKey(k string) (scope, id, kind string, ok bool) {
	scope, rest, ok1 := strings.Cut(k, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok1 || i <= 0 || (scope != ScopeKey && scope != ScopeOrg && scope != ScopeAlloc) {
		return "", "", "", false
	}
	id, kind = rest[:i], rest[i+1:]
	if scope == ScopeAlloc && kind != KindConcurrency {
		return "", "", "", false
	}
	switch kind {
	case KindRPM, KindTPM, KindConcurrency, KindBudget:
		return scope, id, kind, true
	}
	return "", "", "", false
}

// Quota is the replicated state of one limit: what was consumed (in the
// window, or in the budget period) and the leases nodes hold on what is
// left. The sum of leases never exceeds what is left.
type Quota struct {
	Key string `json:"key"`
	// Buckets hold consumption per second, oldest first (RPM, TPM).
	Buckets []QuotaBucket `json:"buckets,omitempty"`
	// Period is the budget period Spent counts: "2026-11-25" (daily),
	// "2026-11" (monthly) or "total".
	Period string `json:"period,omitempty"`
	Spent  int64  `json:"spent,omitempty"`
	// Leases are the units each node holds, by node id.
	Leases map[string]Lease `json:"leases,omitempty"`
}

// QuotaBucket is the consumption reported in one second (Unix time).
type QuotaBucket struct {
	Sec   int64 `json:"s"`
	Units int64 `json:"u"`
}

// Lease is the units a node may spend without asking, until Expires.
type Lease struct {
	Units   int64     `json:"units"`
	Expires time.Time `json:"expires"`
}

// LimitSpec is the limit behind a quota key, from the key's or the org's
// settings.
type LimitSpec struct {
	Limit  int64 // 0: no limit
	Kind   string
	Period string // budgets: daily, monthly or total
	Loc    *time.Location
}

// QuotaLimit returns the limit a quota key stands for in s.
func (s *State) QuotaLimit(key string) LimitSpec {
	scope, id, kind, ok := ParseQuotaKey(key)
	if !ok {
		return LimitSpec{}
	}
	var (
		l     Limits
		orgID string
	)
	switch scope {
	case ScopeKey:
		k := s.Key(id)
		if k == nil || k.RevokedAt != nil {
			return LimitSpec{}
		}
		l, orgID = k.Limits, k.OrgID
	case ScopeOrg:
		p := s.Policies[id]
		if p == nil {
			return LimitSpec{}
		}
		l, orgID = p.Limits, id
	case ScopeAlloc:
		org, prov, _ := strings.Cut(id, "/")
		p := s.Policies[org]
		if p == nil {
			return LimitSpec{}
		}
		l, orgID = Limits{Concurrency: int64(p.Allocation[prov].Concurrency)}, org
	}
	spec := LimitSpec{Kind: kind, Period: l.BudgetPeriod}
	switch kind {
	case KindRPM:
		spec.Limit = l.RPM
	case KindTPM:
		spec.Limit = l.TPM
	case KindConcurrency:
		spec.Limit = l.Concurrency
	case KindBudget:
		spec.Limit = l.Budget
		spec.Loc = s.OrgLocation(orgID)
		if spec.Period == "" {
			spec.Period = PeriodMonthly
		}
	}
	return spec
}

// OrgLocation is the time zone of an org (default Asia/Shanghai): its budget
// periods and usage days follow it.
func (s *State) OrgLocation(orgID string) *time.Location {
	name := DefaultTimeZone
	if o := s.Orgs[orgID]; o != nil && o.TimeZone != "" {
		name = o.TimeZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc, _ = time.LoadLocation(DefaultTimeZone)
	}
	return loc
}

// BudgetPeriodKey names the budget period holding t.
func BudgetPeriodKey(period string, t time.Time, loc *time.Location) string {
	switch period {
	case PeriodTotal:
		return "total"
	case PeriodDaily:
		return t.In(loc).Format(time.DateOnly)
	}
	return t.In(loc).Format("2006-01")
}

// windowStart is the first second still in the window at now: a unit
// reported at second s counts while s > now - 60 s.
func windowStart(now time.Time) int64 { return now.Unix() - int64(QuotaWindow/time.Second) + 1 }

// Used is what counts against the limit at now, leases aside.
func (q *Quota) Used(spec LimitSpec, now time.Time) int64 {
	switch spec.Kind {
	case KindRPM, KindTPM:
		from := windowStart(now)
		var n int64
		for _, b := range q.Buckets {
			if b.Sec >= from {
				n += b.Units
			}
		}
		return n
	case KindBudget:
		if q.Period == BudgetPeriodKey(spec.Period, now, spec.Loc) {
			return q.Spent
		}
	}
	return 0
}

// Outstanding is the units held in leases.
func (q *Quota) Outstanding() int64 {
	var n int64
	for _, l := range q.Leases {
		n += l.Units
	}
	return n
}

// Available is what may still be granted at now.
func (q *Quota) Available(spec LimitSpec, now time.Time) int64 {
	return max(0, spec.Limit-q.Used(spec, now)-q.Outstanding())
}

// FreesAt is when the oldest consumption in the window leaves it, for a
// Retry-After; the zero time when nothing is in the window.
func (q *Quota) FreesAt(now time.Time) time.Time {
	from := windowStart(now)
	for _, b := range q.Buckets {
		if b.Sec >= from {
			return time.Unix(b.Sec, 0).Add(QuotaWindow)
		}
	}
	return time.Time{}
}

// clone copies q so apply can change the copy.
func (q *Quota) clone() *Quota {
	c := *q
	c.Buckets = append([]QuotaBucket(nil), q.Buckets...)
	c.Leases = make(map[string]Lease, len(q.Leases))
	for n, l := range q.Leases {
		c.Leases[n] = l
	}
	return &c
}

// consume records units consumed at t, per the limit's kind.
func (q *Quota) consume(spec LimitSpec, t time.Time, units int64) {
	if units <= 0 {
		return
	}
	switch spec.Kind {
	case KindRPM, KindTPM:
		sec := t.Unix()
		i := len(q.Buckets)
		for i > 0 && q.Buckets[i-1].Sec > sec {
			i--
		}
		if i > 0 && q.Buckets[i-1].Sec == sec {
			q.Buckets[i-1].Units += units
			return
		}
		q.Buckets = append(q.Buckets, QuotaBucket{})
		copy(q.Buckets[i+1:], q.Buckets[i:])
		q.Buckets[i] = QuotaBucket{Sec: sec, Units: units}
	case KindBudget:
		if p := BudgetPeriodKey(spec.Period, t, spec.Loc); p == q.Period {
			q.Spent += units
		}
	}
}

// advance brings q to now: a budget starts its new period, leases that
// expired count as fully consumed at their expiry (their units may have
// been spent by a node that can no longer say), and what left the window
// is dropped. Concurrency slots of an expired lease simply come back.
func (q *Quota) advance(spec LimitSpec, now time.Time) {
	if spec.Kind == KindBudget {
		if p := BudgetPeriodKey(spec.Period, now, spec.Loc); p != q.Period {
			q.Period, q.Spent = p, 0
		}
	}
	for node, l := range q.Leases {
		if l.Expires.After(now) {
			continue
		}
		if spec.Kind != KindConcurrency {
			q.consume(spec, l.Expires, l.Units)
		}
		delete(q.Leases, node)
	}
	from := windowStart(now)
	i := 0
	for i < len(q.Buckets) && q.Buckets[i].Sec < from {
		i++
	}
	q.Buckets = q.Buckets[i:]
}

// idle reports whether q holds nothing worth keeping.
func (q *Quota) idle() bool {
	return len(q.Buckets) == 0 && len(q.Leases) == 0 && q.Spent == 0
}

// QuotaStatus is one configured limit as it stands at a time: what
// counts against it, what nodes hold in leases, what is left.
type QuotaStatus struct {
	Key   string `json:"key"`
	Scope string `json:"scope"` // key or org
	ID    string `json:"id"`
	OrgID string `json:"org_id"`
	Kind  string `json:"kind"`
	Limit int64  `json:"limit"`
	// Used is consumption in the window (RPM, TPM), in the budget period,
	// or slots in use (concurrency: the leases are the slots).
	Used   int64 `json:"used"`
	Leased int64 `json:"leased"`
	// Available is what the cluster may still grant.
	Available int64 `json:"available"`
	// Period is the budget period counted ("2026-11", "2026-11-25",
	// "total"); ResetsAt when it ends, or for RPM/TPM when the oldest
	// consumption leaves the window. Zero when nothing will reset.
	Period   string           `json:"period,omitempty"`
	ResetsAt time.Time        `json:"resets_at,omitzero"`
	Leases   map[string]Lease `json:"leases"`
}

// QuotaStatuses lists every configured limit of keys and org policies
// that match (nil: all), sorted by quota key, as they stand at now.
func (s *State) QuotaStatuses(now time.Time, match func(scope, id, orgID string) bool) []QuotaStatus {
	var out []QuotaStatus
	add := func(scope, id, orgID string, l Limits) {
		if l.RPM == 0 && l.TPM == 0 && l.Concurrency == 0 && l.Budget == 0 || match != nil && !match(scope, id, orgID) {
			return
		}
		for _, kind := range []string{KindRPM, KindTPM, KindConcurrency, KindBudget} {
			key := QuotaKey(scope, id, kind)
			spec := s.QuotaLimit(key)
			if spec.Limit == 0 {
				continue
			}
			q := &Quota{Key: key}
			if cur := s.Quota(key); cur != nil {
				q = cur.clone()
			}
			q.advance(spec, now)
			st := QuotaStatus{Key: key, Scope: scope, ID: id, OrgID: orgID, Kind: kind, Limit: spec.Limit,
				Used: q.Used(spec, now), Leased: q.Outstanding(), Available: q.Available(spec, now), Leases: q.Leases}
			if st.Leases == nil {
				st.Leases = map[string]Lease{}
			}
			switch kind {
			case KindRPM, KindTPM:
				st.ResetsAt = q.FreesAt(now)
			case KindConcurrency:
				st.Used = st.Leased
			case KindBudget:
				st.Period = BudgetPeriodKey(spec.Period, now, spec.Loc)
				st.ResetsAt = budgetPeriodEnd(spec.Period, now, spec.Loc)
			}
			out = append(out, st)
		}
	}
	for _, k := range s.AllKeys() {
		if k.RevokedAt == nil {
			add(ScopeKey, k.ID, k.OrgID, k.Limits)
		}
	}
	for _, p := range s.Policies {
		add(ScopeOrg, p.OrgID, p.OrgID, p.Limits)
		for prov, a := range p.Allocation {
			add(ScopeAlloc, AllocID(p.OrgID, prov), p.OrgID, Limits{Concurrency: int64(a.Concurrency)})
		}
	}
	slices.SortFunc(out, func(a, b QuotaStatus) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// BudgetPeriodStart is when the budget period holding t began; zero for
// a total budget.
func BudgetPeriodStart(period string, t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	switch period {
	case PeriodTotal:
		return time.Time{}
	case PeriodDaily:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	}
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
}

// budgetPeriodEnd is when the budget period holding t ends; zero for
// a total budget.
func budgetPeriodEnd(period string, t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	switch period {
	case PeriodTotal:
		return time.Time{}
	case PeriodDaily:
		return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
	}
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
}

// Quota is the state of the limit with quota key key, nil when it holds
// nothing (no consumption in its window, no lease).
func (s *State) Quota(key string) *Quota {
	q, _ := s.quotas.Get(key)
	return q
}
