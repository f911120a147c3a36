package main

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/tensorgate/tensorgate/admin"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/greptime"
	"github.com/tensorgate/tensorgate/storage/outbox"
	"github.com/tensorgate/tensorgate/storage/pgsink"
)

// startSinks ships the outbox to Postgres (DATABASE_URL) and GreptimeDB
// (GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL) when they are configured, and
// returns what answers usage and audit queries: Postgres, or the node's
// own outbox without it. stop ends the shippers; events not yet shipped
// stay in the outbox for the next start.
func startSinks(c serveConfig, events *outbox.Outbox, lg *slog.Logger) (usage admin.UsageStore, stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var closers []func()
	stop = func() {
		cancel()
		wg.Wait()
		for _, c := range closers {
			c()
		}
	}
	usage = &event.Local{Events: events}
	opts := outbox.ShipOptions{Logger: lg}
	var sinks []outbox.Sink
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		pg, err := pgsink.Open(dsn, pgsink.Options{RetentionDays: c.RetentionDays, Logger: lg})
		if err != nil {
			stop()
			return nil, nil, err
		}
		closers = append(closers, pg.Close)
		usage = pg.Queries()
		sinks = append(sinks, pg)
		wg.Add(1)
		go func() { defer wg.Done(); pg.Maintain(ctx, time.Hour) }()
	}
	if u := os.Getenv("GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL"); u != "" {
		g, err := greptime.New(u, lg)
		if err != nil {
			stop()
			return nil, nil, err
		}
		sinks = append(sinks, g)
	}
	// A sink configured before but not now would hold its backlog
	// forever: forget it.
	for _, name := range events.Sinks() {
		if !slices.ContainsFunc(sinks, func(s outbox.Sink) bool { return s.Name() == name }) {
			lg.Warn("a sink is no longer configured; its unshipped events will not be shipped",
				"component", "outbox", "sink", name, "pending", events.Backlog(name).Pending)
			if err := events.Unregister(name); err != nil {
				stop()
				return nil, nil, err
			}
		}
	}
	for _, s := range sinks {
		// Registered before the data plane opens, so a first start ships
		// its very first event.
		if _, err := events.Register(s.Name()); err != nil {
			stop()
			return nil, nil, err
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = events.Ship(ctx, s, opts) }()
	}
	return usage, stop, nil
}
