package event

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
)

// Scanner walks stored events newest first, from before (exclusive; 0 for
// the newest), until fn returns false. The outbox is one.
type Scanner interface {
	ScanBack(before uint64, fn func(seq uint64, data []byte) bool) error
}

// Local answers usage and audit queries from the events this node still
// keeps in its outbox: the view when there is no Postgres. It sees only
// this node's events, as far back as the outbox's retention.
type Local struct {
	Events Scanner
}

// scan decodes events newest first; undecodable records are skipped.
func (l *Local) scan(ctx context.Context, before uint64, fn func(seq uint64, ev *Event) bool) error {
	return l.Events.ScanBack(before, func(seq uint64, data []byte) bool {
		if ctx.Err() != nil {
			return false
		}
		ev, err := Decode(data)
		if err != nil {
			return true
		}
		return fn(seq, ev)
	})
}

// Usage sums the matching events.
func (l *Local) Usage(ctx context.Context, q UsageQuery) (*UsageReport, error) {
	r := NewReport(q, "local")
	err := l.scan(ctx, 0, func(_ uint64, ev *Event) bool {
		if q.Match(ev) {
			r.AddEvent(ev)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return r.Done(), ctx.Err()
}

// Audit pages through matching events in the order the node stored them,
// newest first.
func (l *Local) Audit(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	before := uint64(0)
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		s, ok := strings.CutPrefix(string(b), "seq:")
		if err != nil || !ok {
			return nil, ErrBadCursor
		}
		if before, err = strconv.ParseUint(s, 10, 64); err != nil || before == 0 {
			return nil, ErrBadCursor
		}
	}
	page := &AuditPage{Source: "local", Data: []Event{}}
	err := l.scan(ctx, before, func(seq uint64, ev *Event) bool {
		if !q.Match(ev) || !q.MatchStatus(ev) {
			return true
		}
		if len(page.Data) == q.Limit {
			page.Next = base64.RawURLEncoding.EncodeToString([]byte("seq:" + strconv.FormatUint(seq+1, 10)))
			return false
		}
		page.Data = append(page.Data, ev.WithoutBodies())
		return true
	})
	if err != nil {
		return nil, err
	}
	return page, ctx.Err()
}

// Event finds one event by its request id.
func (l *Local) Event(ctx context.Context, requestID string) (*Event, error) {
	var found *Event
	err := l.scan(ctx, 0, func(_ uint64, ev *Event) bool {
		if ev.RequestID == requestID {
			found = ev
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, ErrNotFound
	}
	return found, nil
}
