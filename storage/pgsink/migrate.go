// Package pgsink ships events from the outbox to Postgres. This file holds
// the schema migrations it depends on.
package pgsink

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/tensorgate/tensorgate/migrations"
)

// Migrate applies every pending migration to the database at dsn. Nodes
// starting together serialise on a Postgres advisory lock, so each
// migration runs once.
func Migrate(ctx context.Context, dsn string, lg *slog.Logger) (applied int, err error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, fmt.Errorf("open postgres: %w", err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return 0, fmt.Errorf("connect to postgres: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, fmt.Errorf("create migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithSessionLocker(locker))
	if err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range res {
		if lg != nil {
			lg.Info("applied migration", "component", "pgsink", "migration", r.Source.Path, "duration_ms", r.Duration.Milliseconds())
		}
	}
	return len(res), nil
}
