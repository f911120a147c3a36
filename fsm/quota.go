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
	// WriteOffs are leases that ran out without a report (rule 2), still
	// counted as consumed at their expiry, that their node may yet come
	// back to settle (rule 6): what it spent stays, the rest is refunded.
	WriteOffs []WriteOff `json:"write_offs,omitempty"`
	// Refunded is what came back from write-offs: in the budget period
	// for budgets, while the limit holds anything for the others.
	Refunded int64 `json:"refunded,omitempty"`
}

// QuotaBucket is the consumption reported in one second (Unix time).
type QuotaBucket struct {
	Sec   int64 `json:"s"`
	Units int64 `json:"u"`
	// Last is the latest time (Unix nanoseconds) units were placed in the
	// bucket: the whole bucket counts until Last plus the window, so no
	// unit leaves before every window it was admitted in has passed. Zero
	// in snapshots written before it existed: the end of the second.
	Last int64 `json:"l,omitempty"`
}

// Leaves is when the bucket's units stop counting: a window after its
// latest report, or, under the rules from before lease ids, a window
// after the second began.
func (b QuotaBucket) Leaves(spec LimitSpec) time.Time {
	if !spec.leases() {
		return time.Unix(b.Sec, 0).Add(QuotaWindow)
	}
	last := b.Last
	if last == 0 {
		last = (b.Sec + 1) * int64(time.Second)
	}
	return time.Unix(0, last).Add(QuotaWindow)
}

// Lease is the units a node may spend without asking, until Expires.
type Lease struct {
	Units   int64     `json:"units"`
	Expires time.Time `json:"expires"`
	// ID names the lease from its grant to its end: the raft index of the
	// command that created it (zero for leases from before ids), so a
	// report for a lease that was written off reaches that write-off only.
	ID uint64 `json:"id,omitempty"`
	// Reported is what the node reported spent of the lease over its
	// life, so a recount (a node back from a crash, rule 6) counts only
	// what the cluster was not told.
	Reported int64 `json:"reported,omitempty"`
	// Mark is where the node's durable record stood when it asked for the
	// lease: every request that spent from it was recorded after.
	Mark *RecordMark `json:"mark,omitempty"`
}

// RecordMark is a position in a node's durable record of what its
// requests spent (its event outbox): the record's id, which a lost data
// dir changes, and the position its next entry takes.
type RecordMark struct {
	ID  string `json:"id"`
	Seq uint64 `json:"seq"`
}

// WriteOff is a lease that ran out without a report.
type WriteOff struct {
	Node  string `json:"node"`
	Lease uint64 `json:"lease"`
	// Units are still counted as consumed at At, the lease's expiry,
	// until the node reports them spent (they stay) or unspent (refunded).
	Units int64     `json:"units"`
	At    time.Time `json:"at"`
	// Reported and Mark are the lease's (see Lease).
	Reported int64       `json:"reported,omitempty"`
	Mark     *RecordMark `json:"mark,omitempty"`
}

// maxWriteOffs bounds the write-offs a limit keeps for refunds; beyond
// it the oldest stays counted as spent for good.
const maxWriteOffs = 32

// LimitSpec is the limit behind a quota key, from the key's or the org's
// settings.
type LimitSpec struct {
	Limit  int64 // 0: no limit
	Kind   string
	Period string // budgets: daily, monthly or total
	Loc    *time.Location
	// LogVersion is the cluster's (Meta.LogVersion): below
	// LogVersionQuotaLeases the limit keeps the rules every node of an
	// older build applies (see leases).
	LogVersion int
}

// leases reports whether the cluster applies lease ids, write-offs and
// exact window edges (LogVersionQuotaLeases); until every server does,
// quota commands apply as builds from before them apply them.
func (s LimitSpec) leases() bool { return s.LogVersion >= LogVersionQuotaLeases }

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
	spec := LimitSpec{Kind: kind, Period: l.BudgetPeriod, LogVersion: s.Meta.LogVersion}
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

// Used is what counts against the limit at now, leases aside.
func (q *Quota) Used(spec LimitSpec, now time.Time) int64 {
	switch spec.Kind {
	case KindRPM, KindTPM:
		var n int64
		for _, b := range q.Buckets {
			if b.Leaves(spec).After(now) {
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
// Retry-After; the zero time when nothing is in the window. Buckets leave
// in order: a later second's Last is never earlier.
func (q *Quota) FreesAt(spec LimitSpec, now time.Time) time.Time {
	for _, b := range q.Buckets {
		if t := b.Leaves(spec); t.After(now) {
			return t
		}
	}
	return time.Time{}
}

// WrittenOff is what the write-offs still count as consumed.
func (q *Quota) WrittenOff() int64 {
	var n int64
	for _, w := range q.WriteOffs {
		n += w.Units
	}
	return n
}

// clone copies q so apply can change the copy.
func (q *Quota) clone() *Quota {
	c := *q
	c.Buckets = append([]QuotaBucket(nil), q.Buckets...)
	c.WriteOffs = append([]WriteOff(nil), q.WriteOffs...)
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
			b := &q.Buckets[i-1]
			b.Units += units
			if spec.leases() {
				b.Last = max(b.Last, t.UnixNano())
			}
			return
		}
		q.Buckets = append(q.Buckets, QuotaBucket{})
		copy(q.Buckets[i+1:], q.Buckets[i:])
		q.Buckets[i] = QuotaBucket{Sec: sec, Units: units}
		if spec.leases() {
			q.Buckets[i].Last = t.UnixNano()
		}
	case KindBudget:
		if p := BudgetPeriodKey(spec.Period, t, spec.Loc); p == q.Period {
			q.Spent += units
		}
	}
}

// unconsume takes back up to units consumed at t, as far as they still
// count (in the window, in the budget period), and returns how many.
func (q *Quota) unconsume(spec LimitSpec, t time.Time, units int64) int64 {
	switch spec.Kind {
	case KindRPM, KindTPM:
		for i := range q.Buckets {
			if b := &q.Buckets[i]; b.Sec == t.Unix() {
				n := min(units, b.Units)
				b.Units -= n
				return n
			}
		}
	case KindBudget:
		if BudgetPeriodKey(spec.Period, t, spec.Loc) == q.Period {
			n := min(units, q.Spent)
			q.Spent -= n
			return n
		}
	}
	return 0
}

// advance brings q to now: a budget starts its new period, leases that
// expired count as fully consumed at their expiry (their units may have
// been spent by a node that can no longer say), and what left the window
// is dropped. Concurrency slots of an expired lease simply come back.
func (q *Quota) advance(spec LimitSpec, now time.Time) {
	if spec.Kind == KindBudget {
		if p := BudgetPeriodKey(spec.Period, now, spec.Loc); p != q.Period {
			q.Period, q.Spent, q.Refunded, q.WriteOffs = p, 0, 0, nil
		}
	}
	// In node order, so the write-offs line up the same on every node.
	for _, node := range sortedKeys(q.Leases) {
		l := q.Leases[node]
		if l.Expires.After(now) {
			continue
		}
		if !spec.leases() {
			// As older builds do: the whole lease counts, kept nowhere.
			if spec.Kind != KindConcurrency {
				q.consume(spec, l.Expires, l.Units)
			}
		} else if spec.Kind != KindConcurrency && l.Units > 0 {
			q.consume(spec, l.Expires, l.Units)
			q.WriteOffs = append(q.WriteOffs, WriteOff{Node: node, Lease: l.ID, Units: l.Units, At: l.Expires,
				Reported: l.Reported, Mark: l.Mark})
		}
		delete(q.Leases, node)
	}
	i := 0
	for i < len(q.Buckets) && !q.Buckets[i].Leaves(spec).After(now) {
		i++
	}
	q.Buckets = q.Buckets[i:]
	// A write-off whose units no longer count has nothing to refund.
	keep := q.WriteOffs[:0]
	for _, w := range q.WriteOffs {
		if w.Units > 0 && (spec.Kind == KindBudget || q.countsAt(w.At)) {
			keep = append(keep, w)
		}
	}
	q.WriteOffs = keep[max(0, len(keep)-maxWriteOffs):]
	if len(q.WriteOffs) == 0 {
		q.WriteOffs = nil
	}
}

// countsAt reports whether the bucket of t is still in the window.
func (q *Quota) countsAt(t time.Time) bool {
	for _, b := range q.Buckets {
		if b.Sec == t.Unix() {
			return true
		}
	}
	return false
}

// writeOff finds the write-off of node's lease id, or -1.
func (q *Quota) writeOff(node string, id uint64) int {
	for i, w := range q.WriteOffs {
		if w.Node == node && w.Lease == id {
			return i
		}
	}
	return -1
}

// HeldLease is a lease of one node as the replicated state has it: still
// held, or written off and not settled yet.
type HeldLease struct {
	Key        string
	Lease      Lease
	WrittenOff bool
}

// LeasesOf lists node's leases and unsettled write-offs, by quota key,
// as they stand at now: what a node back from a restart recounts.
func (s *State) LeasesOf(node string, now time.Time) []HeldLease {
	var out []HeldLease
	for _, key := range sortedCowKeys(s.quotas) {
		q, _ := s.quotas.Get(key)
		spec := s.QuotaLimit(key)
		if spec.Limit == 0 {
			continue
		}
		q = q.clone()
		q.advance(spec, now)
		if l, ok := q.Leases[node]; ok {
			out = append(out, HeldLease{Key: key, Lease: l})
		}
		for _, w := range q.WriteOffs {
			if w.Node == node {
				out = append(out, HeldLease{Key: key, WrittenOff: true,
					Lease: Lease{Units: w.Units, Expires: w.At, ID: w.Lease, Reported: w.Reported, Mark: w.Mark}})
			}
		}
	}
	return out
}

// idle reports whether q holds nothing worth keeping.
func (q *Quota) idle() bool {
	return len(q.Buckets) == 0 && len(q.Leases) == 0 && q.Spent == 0 && len(q.WriteOffs) == 0
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
	// WrittenOff is what leases of nodes that stopped reporting still
	// count as consumed, until those nodes come back and say what they
	// spent; Refunded is what such reports gave back (in the budget
	// period, for budgets).
	WrittenOff int64 `json:"written_off"`
	Refunded   int64 `json:"refunded"`
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
				Used: q.Used(spec, now), Leased: q.Outstanding(), Available: q.Available(spec, now), Leases: q.Leases,
				WrittenOff: q.WrittenOff(), Refunded: q.Refunded}
			if st.Leases == nil {
				st.Leases = map[string]Lease{}
			}
			switch kind {
			case KindRPM, KindTPM:
				st.ResetsAt = q.FreesAt(spec, now)
			case KindConcurrency:
				st.Used = st.Leased
			case KindBudget:
				st.Period = BudgetPeriodKey(spec.Period, now, spec.Loc)
				st.ResetsAt = BudgetPeriodEnd(spec.Period, now, spec.Loc)
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

// BudgetPeriodEnd is when the budget period holding t ends; zero for
// a total budget.
func BudgetPeriodEnd(period string, t time.Time, loc *time.Location) time.Time {
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
