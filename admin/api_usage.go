package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/storage/event"
)

// UsageStore answers usage and audit queries: Postgres when the node has
// one, else the node's own outbox.
type UsageStore interface {
	Usage(ctx context.Context, q event.UsageQuery) (*event.UsageReport, error)
	Audit(ctx context.Context, q event.AuditQuery) (*event.AuditPage, error)
	Event(ctx context.Context, requestID string) (*event.Event, error)
}

const (
	defaultAuditLimit = 50
	maxAuditLimit     = 1000
	// maxHourRange bounds an hourly series.
	maxHourRange = 93 * 24 * time.Hour
)

// queryParams reads the query string, refusing parameters an endpoint
// does not know so a typo is an error, not a silently wider answer.
func queryParams(r *http.Request, known ...string) (url.Values, error) {
	q := r.URL.Query()
	for k := range q {
		if !slices.Contains(known, k) {
			return nil, badRequest(k, "unknown query parameter "+strconv.Quote(k))
		}
	}
	return q, nil
}

// parseTime accepts RFC 3339 or a date (midnight in loc).
func parseTime(q url.Values, name string, loc *time.Location) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t, nil
	}
	return time.Time{}, badRequest(name, name+" must be an RFC 3339 time or a YYYY-MM-DD date")
}

// filter reads the common filters and limits a caller to the orgs they
// may read. It also returns the time zone dates and buckets are in: tz
// when given, else the org's when the filter names one, else UTC.
func (s *Server) filter(r *http.Request, q url.Values) (event.Filter, *time.Location, error) {
	f := event.Filter{OrgID: q.Get("org_id"), KeyID: q.Get("key_id"), Model: q.Get("model"), Capability: q.Get("capability")}
	p := principalFrom(r.Context())
	if !p.super() {
		if f.OrgID != "" && f.OrgID != p.user.OrgID {
			return f, nil, forbidden("you can only see your own organization's usage")
		}
		f.OrgID = p.user.OrgID
	}
	loc := time.UTC
	if name := q.Get("tz"); name != "" {
		l, err := time.LoadLocation(name)
		if err != nil || name == "Local" {
			return f, nil, badRequest("tz", "tz must be an IANA time zone name such as Asia/Shanghai or UTC")
		}
		loc = l
	} else if f.OrgID != "" {
		loc = s.d.Viewer.View().OrgLocation(f.OrgID)
	}
	var err error
	if f.From, err = parseTime(q, "from", loc); err != nil {
		return f, nil, err
	}
	if f.To, err = parseTime(q, "to", loc); err != nil {
		return f, nil, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, nil, badRequest("from", "from must be before to")
	}
	return f, loc, nil
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	qs, err := queryParams(r, "org_id", "key_id", "model", "capability", "from", "to", "bucket", "group_by", "tz")
	if err != nil {
		return err
	}
	f, loc, err := s.filter(r, qs)
	if err != nil {
		return err
	}
	q := event.UsageQuery{Filter: f, Bucket: qs.Get("bucket"), GroupBy: qs.Get("group_by"), Loc: loc}
	if q.Bucket != "" && !slices.Contains(event.Buckets, q.Bucket) {
		return badRequest("bucket", "bucket must be hour or day")
	}
	if q.GroupBy != "" && !slices.Contains(event.GroupBys, q.GroupBy) {
		return badRequest("group_by", "group_by must be org, key, model, capability or provider")
	}
	end := q.To
	if end.IsZero() {
		end = s.d.Now().UTC()
	}
	// Without a start, the last 30 days (the last day for an hourly series).
	if q.From.IsZero() {
		if q.Bucket == "hour" {
			q.From = event.BucketStart("hour", end.Add(-24*time.Hour), loc).UTC()
		} else {
			q.From = event.BucketStart("day", end, loc).AddDate(0, 0, -29).UTC()
		}
	}
	if q.Bucket == "hour" && end.Sub(q.From) > maxHourRange {
		return badRequest("bucket", "an hourly series covers at most 93 days; use bucket=day")
	}
	rep, err := s.d.Usage.Usage(r.Context(), q)
	if err != nil {
		return storeUnavailable(err)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	qs, err := queryParams(r, "org_id", "key_id", "model", "capability", "from", "to", "tz", "status", "limit", "cursor", "request_id")
	if err != nil {
		return err
	}
	if id := qs.Get("request_id"); id != "" {
		ev, err := s.oneEvent(r, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, event.AuditPage{Data: []event.Event{*ev}})
		return nil
	}
	f, _, err := s.filter(r, qs)
	if err != nil {
		return err
	}
	q := event.AuditQuery{Filter: f, Status: qs.Get("status"), Limit: defaultAuditLimit, Cursor: qs.Get("cursor")}
	if q.Status != "" && q.Status != "ok" && q.Status != "error" {
		return badRequest("status", "status must be ok or error")
	}
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			return badRequest("limit", "limit must be a number from 1 to 1000")
		}
		q.Limit = n
	}
	page, err := s.d.Usage.Audit(r.Context(), q)
	if errors.Is(err, event.ErrBadCursor) {
		return badRequest("cursor", err.Error())
	}
	if err != nil {
		return storeUnavailable(err)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) auditEvent(w http.ResponseWriter, r *http.Request) error {
	ev, err := s.oneEvent(r, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ev)
	return nil
}

// oneEvent returns an event the caller may see, with its bodies.
func (s *Server) oneEvent(r *http.Request, id string) (*event.Event, error) {
	ev, err := s.d.Usage.Event(r.Context(), id)
	if errors.Is(err, event.ErrNotFound) || (err == nil && !principalFrom(r.Context()).canRead(ev.OrgID)) {
		return nil, notFoundErr("no audit event has the request id " + strconv.Quote(id))
	}
	if err != nil {
		return nil, storeUnavailable(err)
	}
	return ev, nil
}

// storeUnavailable reports a failing audit store (Postgres down) as a 503
// the caller may retry.
func storeUnavailable(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &apiError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "audit_store_unavailable",
		Message: "the audit database cannot be queried right now; retry shortly", Err: err}
}
