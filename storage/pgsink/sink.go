package pgsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/outbox"
)

// Options tunes the Postgres sink.
type Options struct {
	// RetentionDays keeps this many days of audit events; older daily
	// partitions are dropped. 0 keeps everything. Billing rollups are
	// never dropped.
	RetentionDays int
	Logger        *slog.Logger
	Now           func() time.Time
}

// Sink ships events to audit_events and billing_daily.
//
// A batch is one statement: the events are inserted from arrays with ON
// CONFLICT DO NOTHING, and only the rows that were new are added to the
// rollups, in the same transaction. Shipping a batch again after a crash
// or a timeout therefore changes nothing: each request is counted once.
type Sink struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger
	mu   sync.Mutex
	days map[string]bool // days whose partition exists
}

// Open connects lazily: a database that is down at start only delays
// shipping.
func Open(dsn string, opts Options) (*Sink, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Sink{pool: pool, opts: opts, log: opts.Logger.With("component", "pgsink"), days: map[string]bool{}}, nil
}

// Close releases the connections.
func (s *Sink) Close() { s.pool.Close() }

// Name implements outbox.Sink.
func (s *Sink) Name() string { return "postgres" }

// column is a column of audit_events the sink writes, with its type.
type column struct{ name, typ string }

// columns of audit_events the sink writes, in the order of batch.args:
// the billing units' columns (fsm.Units) come after the token counts the
// upstream reported.
var columns = func() []column {
	cols := []column{
		{"request_id", "text"}, {"time", "timestamptz"}, {"node", "text"}, {"org_id", "text"}, {"key_id", "text"},
		{"capability", "text"}, {"model", "text"}, {"provider", "text"}, {"upstream_model", "text"},
		{"stream", "bool"}, {"status", "int4"}, {"error_code", "text"}, {"total_tokens", "int8"}, {"cached_tokens", "int8"},
	}
	for _, u := range fsm.Units {
		cols = append(cols, column{u.Column, "int8"})
	}
	return append(cols,
		column{"usage_estimated", "bool"}, column{"cost_micros", "int8"}, column{"currency", "text"},
		column{"latency_ms", "int4"}, column{"upstream_ms", "int4"}, column{"ttfb_ms", "int4"}, column{"attempts", "jsonb"},
		column{"request_body", "text"}, column{"response_body", "text"},
		column{"request_bytes", "int8"}, column{"response_bytes", "int8"}, column{"request_truncated", "bool"},
		column{"response_truncated", "bool"}, column{"bodies_dropped", "bool"}, column{"own_key", "bool"})
}()

// sums are the rollup counters, summed from the inserted rows: each
// billing unit's column, the cost and the latency.
var sums = slices.Clip(append(unitColumns(), "cost_micros", "latency_ms"))

// unitColumns are the billing units' columns, in the order of fsm.Units.
func unitColumns() []string {
	cols := make([]string, 0, fsm.NumUnits)
	for _, u := range fsm.Units {
		cols = append(cols, u.Column)
	}
	return cols
}

var insertSQL = func() string {
	var b strings.Builder
	b.WriteString("WITH ins AS (INSERT INTO audit_events (")
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name)
	}
	b.WriteString(") SELECT * FROM unnest(")
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d::%s[]", i+1, c.typ)
	}
	b.WriteString(") ON CONFLICT DO NOTHING RETURNING time, org_id, key_id, model, capability, currency, status, own_key, ")
	b.WriteString(strings.Join(sums, ", "))
	b.WriteString(")\nINSERT INTO billing_daily AS b (day, org_id, key_id, model, capability, currency, requests, errors, own_key_requests, own_key_cost_micros, ")
	b.WriteString(strings.Join(sums, ", "))
	b.WriteString(")\nSELECT (time AT TIME ZONE 'UTC')::date, org_id, key_id, model, capability, currency, count(*), count(*) FILTER (WHERE status >= 400),\n\tcount(*) FILTER (WHERE own_key), coalesce(sum(cost_micros) FILTER (WHERE own_key), 0)::bigint")
	for _, c := range sums {
		fmt.Fprintf(&b, ", sum(%s)::bigint", c)
	}
	// Sorted, so concurrent batches (from this node or others) lock
	// rollup rows in one order and never deadlock.
	b.WriteString("\nFROM ins GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6\nON CONFLICT (day, org_id, key_id, model, capability, currency) DO UPDATE SET requests = b.requests + excluded.requests, errors = b.errors + excluded.errors,\n\town_key_requests = b.own_key_requests + excluded.own_key_requests, own_key_cost_micros = b.own_key_cost_micros + excluded.own_key_cost_micros")
	for _, c := range sums {
		fmt.Fprintf(&b, ", %s = b.%s + excluded.%s", c, c, c)
	}
	return b.String()
}()

// shipParallel is how many parts of a batch are decoded and written at
// once, on as many connections.
const shipParallel = 2

// Ship implements outbox.Sink. A batch is split in parts written in
// parallel; the call fails if any part does, and the retry of the whole
// batch is harmless for the parts that were written.
func (s *Sink) Ship(ctx context.Context, recs []outbox.Record) error {
	if len(recs) < 200 {
		return s.ship(ctx, recs)
	}
	part := (len(recs) + shipParallel - 1) / shipParallel
	errs := make(chan error, shipParallel)
	for i := 0; i < len(recs); i += part {
		go func(recs []outbox.Record) { errs <- s.ship(ctx, recs) }(recs[i:min(i+part, len(recs))])
	}
	var err error
	for i := 0; i < len(recs); i += part {
		err = errors.Join(err, <-errs)
	}
	return err
}

func (s *Sink) ship(ctx context.Context, recs []outbox.Record) error {
	b := newBatch(len(recs))
	days := map[string]bool{}
	for _, r := range recs {
		ev, err := event.Decode(r.Data)
		if err != nil {
			// Never block the queue behind a record no retry can store.
			s.log.Error("skipping an undecodable outbox record", "seq", r.Seq, "err", err)
			continue
		}
		b.add(ev)
		days[ev.Time.UTC().Format(time.DateOnly)] = true
	}
	if b.n == 0 {
		return nil
	}
	for day := range days {
		if err := s.ensurePartition(ctx, day); err != nil {
			return err
		}
	}
	if _, err := s.pool.Exec(ctx, insertSQL, b.args()...); err != nil {
		return fmt.Errorf("insert %d audit events: %w", b.n, err)
	}
	return nil
}

// clean makes a string storable in a text column: Postgres text holds no
// NUL bytes and only valid UTF-8.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	s = clean(s)
	return &s
}

// batch holds a batch column by column, in typed arrays: one array
// parameter per column of the insert.
type batch struct {
	n                 int
	text              [10][]string // in the order add appends them
	times             []time.Time
	ints              [9][]int64
	units             [fsm.NumUnits][]int64 // in the order of fsm.Units
	bools             [6][]bool
	attempts          [][]event.Attempt
	reqBody, respBody []*string
}

func newBatch(n int) *batch {
	b := &batch{times: make([]time.Time, 0, n), attempts: make([][]event.Attempt, 0, n),
		reqBody: make([]*string, 0, n), respBody: make([]*string, 0, n)}
	for i := range b.text {
		b.text[i] = make([]string, 0, n)
	}
	for i := range b.ints {
		b.ints[i] = make([]int64, 0, n)
	}
	for i := range b.units {
		b.units[i] = make([]int64, 0, n)
	}
	for i := range b.bools {
		b.bools[i] = make([]bool, 0, n)
	}
	return b
}

func (b *batch) add(ev *event.Event) {
	b.n++
	for i, v := range [...]string{ev.RequestID, ev.Node, ev.OrgID, ev.KeyID, ev.Capability, ev.Model, ev.Provider,
		ev.UpstreamModel, ev.ErrorCode, ev.Currency} {
		b.text[i] = append(b.text[i], clean(v))
	}
	b.times = append(b.times, ev.Time.UTC())
	u := ev.Usage
	for i, v := range [...]int64{int64(ev.Status), u.TotalTokens, u.CachedTokens, ev.CostMicros, ev.LatencyMS,
		ev.UpstreamMS, ev.TTFBMS, ev.RequestBytes, ev.ResponseBytes} {
		b.ints[i] = append(b.ints[i], v)
	}
	for i, f := range u.Figures() {
		b.units[i] = append(b.units[i], *f)
	}
	for i, v := range [...]bool{ev.Stream, u.Estimated, ev.RequestTruncated, ev.ResponseTruncated, ev.BodiesDropped, ev.OwnKey} {
		b.bools[i] = append(b.bools[i], v)
	}
	attempts := ev.Attempts
	for i := range attempts {
		attempts[i].Error = clean(attempts[i].Error)
	}
	if attempts == nil {
		attempts = []event.Attempt{}
	}
	b.attempts = append(b.attempts, attempts)
	b.reqBody = append(b.reqBody, nullable(ev.RequestBody))
	b.respBody = append(b.respBody, nullable(ev.ResponseBody))
}

// args returns the arrays in the order of columns.
func (b *batch) args() []any {
	t, i, o := b.text, b.ints, b.bools
	args := make([]any, 0, len(columns))
	args = append(args, t[0], b.times, t[1], t[2], t[3], t[4], t[5], t[6], t[7],
		o[0], i[0], t[8], i[1], i[2])
	for _, u := range b.units {
		args = append(args, u)
	}
	return append(args, o[1], i[3], t[9],
		i[4], i[5], i[6], b.attempts, b.reqBody, b.respBody,
		i[7], i[8], o[2], o[3], o[4], o[5])
}

// ensurePartition creates the partition of a day (YYYY-MM-DD, UTC) once.
func (s *Sink) ensurePartition(ctx context.Context, day string) error {
	s.mu.Lock()
	known := s.days[day]
	s.mu.Unlock()
	if known {
		return nil
	}
	_, err := s.pool.Exec(ctx, "SELECT tensorgate_audit_partition($1::date)", day)
	var pe *pgconn.PgError
	// Two nodes creating the same partition at once: one wins, the other
	// sees it exists.
	if errors.As(err, &pe) && (pe.Code == "42P07" || pe.Code == "23505") {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("create the audit partition of %s: %w", day, err)
	}
	s.mu.Lock()
	s.days[day] = true
	s.mu.Unlock()
	return nil
}
