package pgsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// partitionsAhead is how many days after today get their partition
// before any event needs it.
const partitionsAhead = 2

// Maintain creates partitions ahead of need and drops those past the
// retention, now and then every interval until ctx ends. Every node may
// run it: each step is idempotent.
func (s *Sink) Maintain(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := s.MaintainOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("audit partition maintenance failed; will retry", "err", err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// MaintainOnce runs one maintenance pass.
func (s *Sink) MaintainOnce(ctx context.Context) error {
	today := s.opts.Now().UTC().Truncate(24 * time.Hour)
	for d := 0; d <= partitionsAhead; d++ {
		if err := s.ensurePartition(ctx, today.AddDate(0, 0, d).Format(time.DateOnly)); err != nil {
			return err
		}
	}
	if s.opts.RetentionDays <= 0 {
		return nil
	}
	cutoff := today.AddDate(0, 0, -s.opts.RetentionDays)
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname = 'audit_events'`)
	if err != nil {
		return fmt.Errorf("list audit partitions: %w", err)
	}
	var old []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("list audit partitions: %w", err)
		}
		day, err := time.Parse("20060102", strings.TrimPrefix(name, "audit_events_"))
		if err == nil && day.Before(cutoff) {
			old = append(old, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list audit partitions: %w", err)
	}
	for _, name := range old {
		_, err := s.pool.Exec(ctx, "DROP TABLE IF EXISTS "+quoteIdent(name))
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" {
			err = nil // another node dropped it first
		}
		if err != nil {
			return fmt.Errorf("drop audit partition %s: %w", name, err)
		}
		s.mu.Lock()
		for day := range s.days {
			if "audit_events_"+strings.ReplaceAll(day, "-", "") == name {
				delete(s.days, day)
			}
		}
		s.mu.Unlock()
		s.log.Info("dropped an audit partition past the retention", "partition", name, "retention_days", s.opts.RetentionDays)
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
