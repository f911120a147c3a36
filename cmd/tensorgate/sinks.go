package main

import (
	"context"
	"log/slog"
	"slices"
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

// sinks is where the outbox ships to: the cluster's usage counters, and
// Postgres (DATABASE_URL) and GreptimeDB
// (GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL) when they are configured.
type sinks struct {
	list []outbox.Sink
	pg   *pgsink.Sink // nil without DATABASE_URL
	// store answers usage and audit queries: Postgres, or without it the
	// counters and the node's own outbox.
	store admin.UsageStore
}

// openSinks opens the configured sinks and registers them with the
// outbox (forgetting any no longer configured), so a first start ships
// its very first event. Shipping starts with run.
func openSinks(c Config, events *outbox.Outbox, node usagectr.Applier, state usagectr.Viewer, lg *slog.Logger) (*sinks, error) {
	s := &sinks{
		store: usagectr.Store{Counters: &usagectr.Counters{State: state}, Local: &event.Local{Events: events}},
		list:  []outbox.Sink{&usagectr.Sink{Stream: events.ID(), Cluster: node, State: state}},
	}
	if c.DatabaseURL != "" {
		pg, err := pgsink.Open(c.DatabaseURL, pgsink.Options{RetentionDays: c.RetentionDays, Logger: lg})
		if err != nil {
			return nil, err
		}
		s.pg, s.store = pg, pg.Queries()
		s.list = append(s.list, pg)
	}
	if c.GreptimeInfluxURL != "" {
		g, err := greptime.New(c.GreptimeInfluxURL, lg)
		if err != nil {
			s.close()
			return nil, err
		}
		s.list = append(s.list, g)
	}
	// A sink configured before but not now would hold its backlog
	// forever: forget it.
	for _, name := range events.Sinks() {
		if !slices.ContainsFunc(s.list, func(k outbox.Sink) bool { return k.Name() == name }) {
			lg.Warn("a sink is no longer configured; its unshipped events will not be shipped",
				"component", "outbox", "sink", name, "pending", events.Backlog(name).Pending)
			if err := events.Unregister(name); err != nil {
				s.close()
				return nil, err
			}
		}
	}
	for _, k := range s.list {
		if _, err := events.Register(k.Name()); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// run starts one shipper per sink, and Postgres' maintenance, with start;
// they stop when its context ends. Events not yet shipped stay in the
// outbox for the next start.
func (s *sinks) run(events *outbox.Outbox, lg *slog.Logger, start func(name string, f func(context.Context) error)) {
	opts := outbox.ShipOptions{Logger: lg}
	if s.pg != nil {
		start("postgres maintenance", func(ctx context.Context) error { s.pg.Maintain(ctx, time.Hour); return nil })
	}
	for _, k := range s.list {
		o := opts
		if k.Name() == usagectr.SinkName {
			// One raft command a second per node, whatever the load.
			o.Linger, o.Batch = time.Second, 10_000
		}
		start("ship to "+k.Name(), func(ctx context.Context) error { _ = events.Ship(ctx, k, o); return nil })
	}
}

// close closes the sinks' connections, once no shipper runs.
func (s *sinks) close() {
	if s.pg != nil {
		s.pg.Close()
	}
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
