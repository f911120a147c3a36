package fsm

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Usage counters: every node adds what its requests used, in hourly
// slots, so any node can answer usage totals for the whole cluster
// without Postgres. Hourly slots older than UsageHourRetention are folded
// into daily (UTC) slots, which are kept for UsageDayRetention.
const (
	UsageHourRetention = 32 * 24 * time.Hour
	UsageDayRetention  = 400 * 24 * time.Hour
	hourSecs           = int64(time.Hour / time.Second)
	daySecs            = 24 * hourSecs
)

// UsageDims are what a usage counter is kept per.
type UsageDims struct {
	Org        string `json:"org,omitempty"`
	Key        string `json:"key,omitempty"`
	Model      string `json:"model,omitempty"`
	Capability string `json:"capability,omitempty"`
	Provider   string `json:"provider,omitempty"`
	Currency   string `json:"currency,omitempty"`
}

func (d UsageDims) compare(o UsageDims) int {
	return cmp.Or(cmp.Compare(d.Org, o.Org), cmp.Compare(d.Key, o.Key), cmp.Compare(d.Model, o.Model),
		cmp.Compare(d.Capability, o.Capability), cmp.Compare(d.Provider, o.Provider), cmp.Compare(d.Currency, o.Currency))
}

// UsageCount is what requests used, in every capability's unit: a field
// per entry of Units (see Figures), named as the unit.
type UsageCount struct {
	Requests         int64 `json:"requests,omitempty"`
	Errors           int64 `json:"errors,omitempty"`
	PromptTokens     int64 `json:"prompt_tokens,omitempty"`
	CompletionTokens int64 `json:"completion_tokens,omitempty"`
	Images           int64 `json:"images,omitempty"`
	Seconds          int64 `json:"seconds,omitempty"`
	Pages            int64 `json:"pages,omitempty"`
	Characters       int64 `json:"characters,omitempty"`
	CostMicros       int64 `json:"cost_micros,omitempty"`
	// LatencyMS is the requests' latencies added up.
	LatencyMS int64 `json:"latency_ms,omitempty"`
}

// Add adds o to c.
func (c *UsageCount) Add(o UsageCount) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	to, from := c.Figures(), o.Figures()
	for i := range to {
		*to[i] += *from[i]
	}
	c.CostMicros += o.CostMicros
	c.LatencyMS += o.LatencyMS
}

func (c UsageCount) negative() bool {
	for _, f := range c.Figures() {
		if *f < 0 {
			return true
		}
	}
	return min(c.Requests, c.Errors, c.CostMicros, c.LatencyMS) < 0
}

// UsageRow is one counter of one slot: the form of commands and snapshots.
type UsageRow struct {
	// Start is the slot's first second (Unix); Span its length in seconds
	// (3600 or 86400).
	Start int64 `json:"start"`
	Span  int64 `json:"span"`
	UsageDims
	UsageCount
}

// UsageSlot holds the counters of one hour or one day. Slots are
// immutable once stored in a State; apply copies the ones it changes.
type UsageSlot struct {
	Start, Span int64
	rows        cowMap[UsageDims, UsageCount]
}

// usageState is the part of State the counters live in.
type usageState struct {
	// UsageHours and UsageDays are slots by their start (Unix seconds).
	UsageHours map[int64]*UsageSlot
	UsageDays  map[int64]*UsageSlot
	// UsageMarks is, per event stream (a node's outbox), the last event
	// sequence number counted, so a batch sent twice counts once.
	UsageMarks map[string]uint64
	// lastUsed is, per key, the time of its latest counted request
	// (Unix seconds).
	lastUsed cowMap[string, int64]
}

// LastUsed is when a key was last used, zero if never (as far as the
// counters know: events reach them within seconds).
func (s *State) LastUsed(keyID string) time.Time {
	if t, ok := s.lastUsed.Get(keyID); ok {
		return time.Unix(t, 0)
	}
	return time.Time{}
}

// UsageRows calls fn for every counter whose slot overlaps [from, to),
// days before hours, each in time order. A zero bound is open.
func (s *State) UsageRows(from, to time.Time, fn func(UsageRow)) {
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if !from.IsZero() {
		lo = from.Unix()
	}
	if !to.IsZero() {
		hi = to.Unix()
		if to.Nanosecond() > 0 {
			hi++
		}
	}
	for _, slots := range []map[int64]*UsageSlot{s.UsageDays, s.UsageHours} {
		for _, start := range slices.Sorted(maps.Keys(slots)) {
			sl := slots[start]
			if sl.Start >= hi || sl.Start+sl.Span <= lo {
				continue
			}
			for d, c := range sl.rows.All() {
				fn(UsageRow{Start: sl.Start, Span: sl.Span, UsageDims: d, UsageCount: c})
			}
		}
	}
}

// UsageMark is the last event of stream counted.
func (s *State) UsageMark(stream string) uint64 { return s.UsageMarks[stream] }

// usageRowsSorted lists every counter in a deterministic order, for
// snapshots.
func (s *State) usageRowsSorted() []UsageRow {
	var rows []UsageRow
	s.UsageRows(time.Time{}, time.Time{}, func(r UsageRow) { rows = append(rows, r) })
	slices.SortFunc(rows, func(a, b UsageRow) int {
		return cmp.Or(cmp.Compare(a.Span, b.Span), cmp.Compare(a.Start, b.Start), a.UsageDims.compare(b.UsageDims))
	})
	return rows
}

// slotEdits are the slots one apply (or a snapshot's restore) writes,
// each a new slot whose counters are being changed.
type slotEdits map[*UsageSlot]*cowEdit[UsageDims, UsageCount]

// add adds a counter to its slot in slots, replacing the stored slot with
// a new one the first time it is touched.
func (t slotEdits) add(slots map[int64]*UsageSlot, start, span int64, d UsageDims, c UsageCount) {
	e := t.rows(slots, start, span)
	cur, _ := e.Get(d)
	cur.Add(c)
	e.Set(d, cur)
}

// rows is the edit of slots' slot at start, made on first use.
func (t slotEdits) rows(slots map[int64]*UsageSlot, start, span int64) *cowEdit[UsageDims, UsageCount] {
	sl := slots[start]
	if e := t[sl]; sl != nil && e != nil {
		return e
	}
	ns := &UsageSlot{Start: start, Span: span}
	var e *cowEdit[UsageDims, UsageCount]
	if sl != nil {
		e = sl.rows.edit()
	} else {
		e = cowMap[UsageDims, UsageCount]{}.edit()
	}
	slots[start] = ns
	t[ns] = e
	return e
}

// done stores every edited slot's counters.
func (t slotEdits) done() {
	for sl, e := range t {
		sl.rows = e.done()
	}
}

// usageMark is a snapshot record of UsageMarks.
type usageMark struct {
	Stream string `json:"stream"`
	Mark   uint64 `json:"mark"`
}

// keyLastUsed is a snapshot record of a key's last use.
type keyLastUsed struct {
	Key  string `json:"key"`
	Time int64  `json:"time"`
}

// usageRow restores one counter from a snapshot record.
func (rs *restoring) usageRow(b []byte) error {
	s := rs.s
	var r UsageRow
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	var slots *map[int64]*UsageSlot
	switch r.Span {
	case hourSecs:
		slots = &s.UsageHours
	case daySecs:
		slots = &s.UsageDays
	}
	if slots == nil || r.Start%r.Span != 0 || r.negative() {
		return fmt.Errorf("bad usage counter (start %d, span %d)", r.Start, r.Span)
	}
	if *slots == nil {
		*slots = map[int64]*UsageSlot{}
	}
	rows := rs.slots.rows(*slots, r.Start, r.Span)
	if _, dup := rows.Get(r.UsageDims); dup {
		return fmt.Errorf("duplicate usage counter at %d", r.Start)
	}
	rows.Set(r.UsageDims, r.UsageCount)
	return nil
}
