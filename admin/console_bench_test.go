package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/pgsink"
	"github.com/tensorgate/tensorgate/storage/pgsink/pgtest"
)

const (
	benchOrgs   = 10
	benchKeys   = 10_000
	benchEvents = 1_000_000
	benchDays   = 30
)

// BenchmarkConsolePages measures the server time of the console's pages
// with 10,000 keys in the replicated state and 1,000,000 audit events in
// Postgres, as a super admin and as an org admin. Each page reports its
// median and 95th percentile (ms); setting up the data takes a minute.
//
//	go test ./admin -run '^$' -bench ConsolePages -benchtime 40x
//
// The events run up to now; TENSORGATE_BENCH_NOW (RFC 3339) sets another
// now, since where the 30 days fall among months and weeks decides how
// many per-key rollup rows usage by key reads (try the 1st and the 16th
// of a month, e.g. 2026-11-16T12:00:00+08:00).
func BenchmarkConsolePages(b *testing.B) {
	now := time.Now()
	if v := os.Getenv("TENSORGATE_BENCH_NOW"); v != "" {
		var err error
		if now, err = time.Parse(time.RFC3339, v); err != nil {
			b.Fatalf("TENSORGATE_BENCH_NOW: %v", err)
		}
	}
	clock := func() time.Time { return now }
	e := newEnv(b)
	ctx := context.Background()
	orgs := []string{e.defaultOrg()}
	for i := 1; i < benchOrgs; i++ {
		id := e.do("POST", "/api/admin/orgs", e.token, map[string]any{"name": fmt.Sprintf("org-%02d", i)}).json(b)["id"].(string)
		orgs = append(orgs, id)
	}
	keys, keyOrgs := benchKeysInto(b, e, orgs)
	// TENSORGATE_BENCH_DATABASE_URL keeps the events between runs (to
	// look at query plans); they are written when it has none.
	dsn := os.Getenv("TENSORGATE_BENCH_DATABASE_URL")
	if dsn == "" {
		dsn = pgtest.NewDatabase(b)
	}
	if _, err := pgsink.Migrate(ctx, dsn, nil); err != nil {
		b.Fatal(err)
	}
	benchEventsInto(b, dsn, now, keys, keyOrgs)
	sink, err := pgsink.Open(dsn, pgsink.Options{Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sink.Close)
	s, err := New(Config{Version: "bench"}, Deps{Applier: e.node, Viewer: e.fsm, Cluster: e.node, Keyring: e.keys,
		Gatherer: prometheus.NewRegistry(), Usage: sink.Queries(), Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	super := e.consoleAs(b, fsm.RoleSuperAdmin, "", "bench-super@example.com").token
	orgAdmin := e.consoleAs(b, fsm.RoleOrgAdmin, orgs[1], "bench-org@example.com").token

	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		b.Fatal(err)
	}
	date := func(days int) string { return now.In(shanghai).AddDate(0, 0, days).Format(time.DateOnly) }
	for _, pg := range []struct{ name, token, path string }{
		{"overview", super, "/"},
		{"keys", super, "/keys"},
		{"keys-search", super, "/keys?q=svc-09999"},
		{"keys-page-100", super, "/keys?page=100"},
		{"usage-30d-by-model", super, "/usage"},
		{"usage-24h-by-hour", super, "/usage?bucket=hour"},
		{"usage-30d-by-key", super, "/usage?group_by=key"},
		{"usage-by-key-between-dates", super, "/usage?group_by=key&from=" + date(-27) + "&to=" + date(-4)},
		{"usage-org-shanghai", super, "/usage?org_id=" + orgs[2]},
		{"audit", super, "/audit"},
		{"audit-by-key", super, "/audit?key_id=" + keys[77]},
		{"audit-errors-by-model", super, "/audit?model=qwen-max&status=error"},
		{"audit-event", super, "/audit/req_00500000"},
		{"cap-llm", super, "/cap/llm"},
		{"routing", super, "/routing"},
		{"orgs", super, "/orgs"},
		{"alerts", super, "/alerts"},
		{"cluster", super, "/cluster"},
		{"org-admin-overview", orgAdmin, "/"},
		{"org-admin-keys", orgAdmin, "/keys"},
		{"org-admin-usage", orgAdmin, "/usage"},
		{"org-admin-usage-by-key", orgAdmin, "/usage?group_by=key"},
		{"org-admin-audit", orgAdmin, "/audit"},
	} {
		b.Run(pg.name, func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			for b.Loop() {
				r := httptest.NewRequest("GET", pg.path, nil)
				r.AddCookie(&http.Cookie{Name: SessionCookie, Value: pg.token})
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, r)
				times = append(times, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %.300s", pg.path, w.Code, w.Body.String())
				}
			}
			slices.Sort(times)
			ms := func(q float64) float64 {
				return float64(times[min(len(times)-1, int(q*float64(len(times))))]) / float64(time.Millisecond)
			}
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.95), "p95-ms")
		})
	}
}

// benchKeysInto creates benchKeys keys spread over orgs, through raft,
// and returns their ids and each one's org.
func benchKeysInto(b *testing.B, e *testEnv, orgs []string) (keys, keyOrgs []string) {
	keys, keyOrgs = make([]string, benchKeys), make([]string, benchKeys)
	created := time.Now().Add(-40 * 24 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	const workers = 32
	for w := range workers {
		wg.Go(func() {
			for i := w; i < benchKeys; i += workers {
				keys[i], keyOrgs[i] = fmt.Sprintf("key_%05d", i), orgs[i%len(orgs)]
				k := fsm.Key{ID: keys[i], OrgID: keyOrgs[i], Name: fmt.Sprintf("svc-%05d", i), Prefix: fmt.Sprintf("gk_%05d", i),
					Hash: fmt.Sprintf("%064x", i+1), Scopes: fsm.Capabilities, Limits: fsm.Limits{RPM: int64(60 + i%100)},
					CreatedAt: created.Add(time.Duration(i) * time.Minute)}
				if _, err := e.node.Apply(context.Background(), fsm.Command{Type: fsm.TypeKeyUpsert, Body: fsm.KeyUpsertBody{Key: k, Create: true}}); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	return keys, keyOrgs
}

// benchEventsInto writes benchEvents audit events over the last benchDays
// days straight into Postgres (far faster than shipping them), with
// bodies and a failover chain like real ones, and their daily rollups.
func benchEventsInto(b *testing.B, dsn string, now time.Time, keys, keyOrgs []string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_events").Scan(&n); err != nil || n > 0 {
		return
	}
	start := now.Add(-benchDays * 24 * time.Hour)
	for _, sql := range []struct {
		sql  string
		args []any
	}{
		{`SELECT tensorgate_audit_partition(d::date) FROM generate_series($1::timestamptz, $2::timestamptz, '1 day') d`,
			[]any{start.Add(-24 * time.Hour), now.Add(24 * time.Hour)}},
		// Event i is at start + i × span/N; key i×7919 mod N; one in
		// twenty fails over from the first provider to the second; errors
		// (one in twenty) spread over the five models.
		{`INSERT INTO audit_events (request_id, time, node, org_id, key_id, capability, model, provider, upstream_model, status,
			error_code, prompt_tokens, completion_tokens, total_tokens, cost_micros, currency, latency_ms, upstream_ms, ttfb_ms,
			attempts, request_body, response_body, request_bytes, response_bytes)
		SELECT 'req_' || lpad(i::text, 8, '0'), $1::timestamptz + (i * $2::float8) * interval '1 second', 'n' || (i % 3 + 1),
			($4::text[])[k + 1], ($3::text[])[k + 1], CASE WHEN i % 10 = 0 THEN 'image' ELSE 'llm' END, m, p, m,
			CASE WHEN i % 20 = 0 THEN 502 ELSE 200 END, CASE WHEN i % 20 = 0 THEN 'upstream_error' ELSE '' END,
			100 + i % 900, 20 + i % 300, 120 + i % 900 + i % 300, (100 + i % 900) * 2 + (20 + i % 300) * 6, 'CNY',
			200 + i % 1800, 180 + i % 1800, 90 + i % 400,
			CASE WHEN i % 20 = 1 THEN jsonb_build_array(
				jsonb_build_object('provider', 'deepseek', 'model', m, 'result', 'timeout', 'status', 0, 'error', 'upstream timed out', 'duration_ns', 30000000000),
				jsonb_build_object('provider', p, 'model', m, 'result', 'ok', 'status', 200, 'duration_ns', 800000000))
			ELSE jsonb_build_array(jsonb_build_object('provider', p, 'model', m, 'result', 'ok', 'status', 200, 'duration_ns', 800000000)) END,
			'{"model":"' || m || '","messages":[{"role":"user","content":"Summarise ticket ' || i || ' for the support queue in three sentences."}]}',
			'Ticket ' || i || ' reports a failed payment retried twice; the customer asks for a refund; no action has been taken yet.',
			160, 120
		FROM generate_series(1::bigint, $5::bigint) i,
			LATERAL (SELECT ((i * 7919) % $6::bigint)::int AS k, (ARRAY['qwen-plus','qwen-max','deepseek-v4-flash','deepseek-v4-pro','qwen-turbo'])[(i / 7) % 5 + 1] AS m) km,
			LATERAL (SELECT CASE WHEN m LIKE 'deepseek%' THEN 'deepseek' ELSE 'dashscope' END AS p) pr`,
			[]any{start, float64(benchDays*24*3600) / benchEvents, keys, keyOrgs, benchEvents, len(keys)}},
		{`INSERT INTO billing_daily (day, org_id, key_id, model, capability, currency, requests, errors, prompt_tokens, completion_tokens, cost_micros)
		SELECT (time AT TIME ZONE 'UTC')::date, org_id, key_id, model, capability, currency, count(*), count(*) FILTER (WHERE status >= 400),
			sum(prompt_tokens), sum(completion_tokens), sum(cost_micros)
		FROM audit_events GROUP BY 1, 2, 3, 4, 5, 6`, nil},
		{`ANALYZE`, nil},
	} {
		if _, err := conn.Exec(ctx, sql.sql, sql.args...); err != nil {
			b.Fatalf("%v\n%s", err, sql.sql)
		}
	}
}
