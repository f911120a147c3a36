package pgsink

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/tensorgate/tensorgate/migrations"
	"github.com/tensorgate/tensorgate/storage/pgsink/pgtest"
)

func TestMigrateFromEmptyAndAgain(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	n, err := Migrate(ctx, dsn, nil)
	if err != nil || n == 0 {
		t.Fatalf("first migrate: %d, %v", n, err)
	}
	if n, err := Migrate(ctx, dsn, nil); err != nil || n != 0 {
		t.Fatalf("second migrate applied %d, %v; want 0", n, err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A day's partition, then the same event twice: one row.
	if _, err := db.Exec(`SELECT tensorgate_audit_partition('2026-11-25')`); err != nil {
		t.Fatalf("create partition: %v", err)
	}
	if _, err := db.Exec(`SELECT tensorgate_audit_partition('2026-11-25')`); err != nil {
		t.Fatalf("create partition again: %v", err)
	}
	for i := 0; i < 2; i++ {
		_, err := db.Exec(`INSERT INTO audit_events (request_id, time, node, org_id, key_id, capability, status)
			VALUES ('req_1', '2026-11-25T10:00:00Z', 'n1', 'org1', 'key1', 'llm', 200) ON CONFLICT DO NOTHING`)
		if err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM audit_events WHERE request_id = 'req_1'`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d rows, %v; want exactly 1", rows, err)
	}
	// An event with no partition for its day is refused, not lost silently:
	// the sink creates partitions before it ships.
	if _, err := db.Exec(`INSERT INTO audit_events (request_id, time, node, org_id, key_id, capability, status)
		VALUES ('req_2', '2030-01-01T00:00:00Z', 'n1', 'org1', 'key1', 'llm', 200)`); err == nil {
		t.Fatal("an event without a partition was accepted")
	}
}

func TestMigrateNeedsAReachableDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Migrate(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", nil); err == nil {
		t.Fatal("migrate against nothing succeeded")
	}
}

// Events written before the hourly rollups existed are summed into them
// by the migration that adds them; later ones by its trigger.
func TestHourlyRollupsTakeInOlderEvents(t *testing.T) {
	ctx := context.Background()
	dsn, db := migratedTo(t, 3)
	insert := func(id, at string, status int) {
		t.Helper()
		if _, err := db.Exec(`INSERT INTO audit_events (request_id, time, node, org_id, key_id, capability, model, status, cost_micros, currency, latency_ms)
			VALUES ($1, $2, 'n1', 'org1', 'key1', 'llm', 'm', $3, 7, 'CNY', 100) ON CONFLICT DO NOTHING`, id, at, status); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`SELECT tensorgate_audit_partition('2026-11-25')`); err != nil {
		t.Fatal(err)
	}
	insert("req_1", "2026-11-25T10:10:00Z", 200)
	insert("req_2", "2026-11-25T10:50:00Z", 502)
	if _, err := Migrate(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	insert("req_3", "2026-11-25T11:00:00Z", 200)
	insert("req_3", "2026-11-25T11:00:00Z", 200) // skipped by ON CONFLICT: not counted
	got := lines(t, db, `SELECT format('%s %s %s %s %s', to_char(hour AT TIME ZONE 'UTC', 'HH24:MI'), requests, errors, cost_micros, latency_ms)
		FROM billing_hourly ORDER BY hour`)
	if fmt.Sprint(got) != "[10:00 2 1 14 200 11:00 1 0 7 100]" {
		t.Fatalf("hourly rollups %v", got)
	}
}

// Per-key days from before the weekly rollups existed are summed into
// them by the migration that adds them; later events by the trigger.
func TestWeeklyRollupsTakeInOlderDays(t *testing.T) {
	ctx := context.Background()
	dsn, db := migratedTo(t, 4)
	insert := func(id, at string) {
		t.Helper()
		if _, err := db.Exec(`SELECT tensorgate_audit_partition($1::timestamptz::date)`, at); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO audit_events (request_id, time, node, org_id, key_id, capability, model, status, cost_micros, currency, latency_ms)
			VALUES ($1, $2, 'n1', 'org1', 'key1', 'llm', 'm', 200, 7, 'CNY', 100)`, id, at); err != nil {
			t.Fatal(err)
		}
	}
	insert("req_1", "2026-11-21T23:00:00Z") // the week from the 15th
	insert("req_2", "2026-11-22T01:00:00Z") // the week from the 22nd
	if _, err := Migrate(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	insert("req_3", "2026-11-28T10:00:00Z")
	insert("req_4", "2026-11-30T10:00:00Z") // the month's last, short week
	insert("req_5", "2026-12-31T10:00:00Z")
	got := lines(t, db, `SELECT format('%s %s %s %s', to_char(week, 'MM-DD'), requests, cost_micros, latency_ms)
		FROM billing_key_weekly ORDER BY week`)
	if fmt.Sprint(got) != "[11-15 1 7 100 11-22 2 14 200 11-29 1 7 100 12-29 1 7 100]" {
		t.Fatalf("weekly rollups %v", got)
	}
}

// migratedTo opens a new database migrated up to version only, for
// checking what a later migration does with the rows already there.
func migratedTo(t *testing.T, version int64) (string, *sql.DB) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	return dsn, db
}

// lines answers a query of one text column as its rows.
func lines(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		out = append(out, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
