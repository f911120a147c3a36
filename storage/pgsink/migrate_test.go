package pgsink

import (
	"context"
	"database/sql"
	"testing"
	"time"

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
