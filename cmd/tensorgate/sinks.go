package main

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/tensorgate/tensorgate/admin"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/alert"
	usagectr "github.com/tensorgate/tensorgate/gateway/usage"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/greptime"
	"github.com/tensorgate/tensorgate/storage/outbox"
	"github.com/tensorgate/tensorgate/storage/pgsink"
)

// startSinks ships the outbox to the cluster's usage counters, and to
// Postgres (DATABASE_URL) and GreptimeDB
// (GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL) when they are configured, and
// returns what answers usage and audit queries: Postgres, or without it
// the counters and the node's own outbox. stop ends the shippers; events
// not yet shipped stay in the outbox for the next start.
func startSinks(c serveConfig, events *outbox.Outbox, node usagectr.Applier, state usagectr.Viewer, lg *slog.Logger) (store admin.UsageStore, stop func(), err error) {
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
	store = usagectr.Store{Counters: &usagectr.Counters{State: state}, Local: &event.Local{Events: events}}
	opts := outbox.ShipOptions{Logger: lg}
	sinks := []outbox.Sink{&usagectr.Sink{Stream: events.ID(), Cluster: node, State: state}}
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		pg, err := pgsink.Open(dsn, pgsink.Options{RetentionDays: c.RetentionDays, Logger: lg})
		if err != nil {
			stop()
			return nil, nil, err
		}
		closers = append(closers, pg.Close)
		store = pg.Queries()
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
		o := opts
		if s.Name() == usagectr.SinkName {
			// One raft command a second per node, whatever the load.
			o.Linger, o.Batch = time.Second, 10_000
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = events.Ship(ctx, s, o) }()
	}
	return store, stop, nil
}

// breakerLister shows the data plane's circuit breakers in the admin API.
func breakerLister(gw *gateway.Server) func() []admin.BreakerStatus {
	return func() []admin.BreakerStatus {
		var out []admin.BreakerStatus
		for _, b := range gw.Breakers() {
			out = append(out, admin.BreakerStatus{Provider: b.Provider, Model: b.Model, Org: b.Org, State: b.State, Until: b.Until})
		}
		return out
	}
}

// clusterAlerts is what the alert watcher needs of the cluster.
type clusterAlerts struct{ n *cluster.Node }

func (c clusterAlerts) IsLeader() bool { return c.n.IsLeader() }

// Lost lists raft members that gossip does not see alive.
func (c clusterAlerts) Lost(ctx context.Context) ([]string, error) {
	ms, err := c.n.Members(ctx)
	if err != nil {
		return nil, err
	}
	var lost []string
	for _, m := range ms {
		if !m.Alive && m.Role != "none" {
			lost = append(lost, m.ID)
		}
	}
	return lost, nil
}

// alertLister shows the node's recent alert deliveries in the console.
func alertLister(s *alert.Sender) func() []admin.AlertRecord {
	return func() []admin.AlertRecord {
		var out []admin.AlertRecord
		for _, d := range s.Recent() {
			out = append(out, admin.AlertRecord{Time: d.Time, Type: d.Type, Severity: d.Severity, OrgID: d.OrgID,
				Message: d.Message, Target: d.Target, Result: d.Result})
		}
		return out
	}
}
