package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/tensorgate/tensorgate/admin"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/fsm"
)

func newLogger(c Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs one node until ctx ends (a signal) or the node fails.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := parseConfig(args, os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	lg := newLogger(c, stderr).With("node_id", c.NodeID)
	n := NewNode(c, lg)
	if err := n.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		lg.Info("shutting down")
	case <-n.Failed():
	}
	return n.Stop()
}

// bootstrapState makes sure the replicated state has its first org, admin
// and providers. Every node tries once a leader exists, forwarding to it;
// the fsm applies the first bootstrap and ignores the rest, so it does not
// matter which node wins or whether the cluster was bootstrapped long ago.
func bootstrapState(ctx context.Context, node *cluster.Node, f *fsm.FSM, c Config, lg *slog.Logger) error {
	for !f.View().Bootstrapped() {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := node.WaitForLeader(wctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			lg.Info("waiting for a raft leader before the first start completes", "err", err)
			continue
		}
		if f.View().Bootstrapped() {
			return nil
		}
		applied, err := admin.Bootstrap(ctx, node, f, admin.BootstrapConfig{
			AdminEmail: c.AdminEmail, AdminPassword: c.AdminPassword, OrgName: c.OrgName,
		})
		if errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrShutdown) {
			continue
		}
		if err != nil {
			return err
		}
		if applied {
			lg.Info("created the first org and super admin", "org", c.OrgName, "admin_email", c.AdminEmail)
			if c.AdminPassword == admin.DefaultAdminPassword {
				lg.Warn("the super admin uses the seed's default password; change it after signing in")
			}
		}
	}
	return nil
}
