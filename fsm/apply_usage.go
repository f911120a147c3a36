package fsm

import (
	"maps"
	"time"
)

func init() {
	register(TypeUsageAdd, applyUsageAdd)
}

// UsageAddBody adds the usage of a run of events from one node's outbox
// (events From through To of Stream) to the cluster's counters.
type UsageAddBody struct {
	Stream string     `json:"stream"`
	From   uint64     `json:"from"`
	To     uint64     `json:"to"`
	Rows   []UsageRow `json:"rows"`
	// LastUsed is, per key, the time of its latest event in the batch
	// (Unix seconds).
	LastUsed map[string]int64 `json:"last_used,omitempty"`
}

// UsageAddResult answers a UsageAddBody.
type UsageAddResult struct {
	// Counted is false when events of the batch were counted before; the
	// sender drops the events up to Mark and sends the rest again.
	Counted bool `json:"counted"`
	// Mark is the stream's last counted event after this command.
	Mark uint64 `json:"mark"`
}

func (b *UsageAddBody) validate() error {
	if b.Stream == "" {
		return invalid("stream", "is required")
	}
	if b.From == 0 || b.To < b.From {
		return invalid("from", "must be positive and at most to")
	}
	for _, r := range b.Rows {
		if r.Span != hourSecs || r.Start%hourSecs != 0 {
			return invalid("rows.start", "rows are whole hours")
		}
		if r.negative() {
			return invalid("rows", "counts must not be negative")
		}
	}
	for _, t := range b.LastUsed {
		if t <= 0 {
			return invalid("last_used", "times must be positive")
		}
	}
	return nil
}

func applyUsageAdd(next *State, c decoded, b UsageAddBody, _ uint64) (*UsageAddResult, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	mark := next.UsageMarks[b.Stream]
	if b.From <= mark {
		return &UsageAddResult{Mark: mark}, nil
	}
	now := c.Time.Unix()
	hourCut := now - int64(UsageHourRetention/time.Second)
	dayCut := now - int64(UsageDayRetention/time.Second)
	hours, days := maps.Clone(next.UsageHours), maps.Clone(next.UsageDays)
	if hours == nil {
		hours = map[int64]*UsageSlot{}
	}
	if days == nil {
		days = map[int64]*UsageSlot{}
	}
	edits := slotEdits{}
	for _, r := range b.Rows {
		switch {
		case r.Start+r.Span <= dayCut:
			// Older than anything kept: nothing to add it to.
		case r.Start+r.Span <= hourCut:
			edits.add(days, r.Start-r.Start%daySecs, daySecs, r.UsageDims, r.UsageCount)
		default:
			edits.add(hours, r.Start, hourSecs, r.UsageDims, r.UsageCount)
		}
	}
	// Hours that left the hourly retention fold into their day; days
	// that left the daily retention go.
	for start, sl := range hours {
		if start+hourSecs > hourCut {
			continue
		}
		delete(hours, start)
		for d, cnt := range sl.rows.All() {
			edits.add(days, start-start%daySecs, daySecs, d, cnt)
		}
	}
	for start := range days {
		if start+daySecs <= dayCut {
			delete(days, start)
		}
	}
	edits.done()
	marks := maps.Clone(next.UsageMarks)
	if marks == nil {
		marks = map[string]uint64{}
	}
	marks[b.Stream] = b.To
	if len(b.LastUsed) > 0 {
		last := next.lastUsed.edit()
		for id, t := range b.LastUsed {
			// Only keys the cluster knows: a batch can't grow the map
			// with names of its own.
			if cur, _ := last.Get(id); next.Key(id) != nil && t > cur {
				last.Set(id, t)
			}
		}
		next.lastUsed = last.done()
	}
	next.UsageHours, next.UsageDays, next.UsageMarks = hours, days, marks
	return &UsageAddResult{Counted: true, Mark: b.To}, nil
}
