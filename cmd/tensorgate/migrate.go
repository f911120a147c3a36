package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/tensorgate/tensorgate/storage/pgsink"
)

// migrateCmd applies the Postgres migrations to DATABASE_URL and exits.
func migrateCmd(ctx context.Context, stdout, stderr io.Writer) error {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		return errors.New("DATABASE_URL is not set; it names the Postgres database for audit and billing")
	}
	if err := validateDatabaseURL(dsn); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	n, err := pgsink.Migrate(ctx, dsn, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s); the database is up to date\n", n)
	return nil
}
