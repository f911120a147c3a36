package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Node.
type Config struct {
	// NodeID is the stable raft server id.
	NodeID string
	// DataDir holds raft/log (pebble) and raft/snapshots.
	DataDir string
	// RaftAddr is the address raft binds and advertises.
	RaftAddr string

	// Raft timings. LAN defaults favour fast failover.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// SnapshotThreshold is how many log entries trigger a snapshot.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks the threshold.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries stay after a snapshot, so a briefly
	// lagging follower catches up from the log instead of a snapshot.
	TrailingLogs uint64
	// SnapshotRetain is how many snapshots stay on disk.
	SnapshotRetain int

	// ApplyTimeout bounds one proposal when the caller's context has no
	// deadline.
	ApplyTimeout time.Duration

	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// DefaultConfig returns the defaults for a node on a LAN.
func DefaultConfig() Config {
	return Config{
		RaftAddr:           "127.0.0.1:7000",
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		SnapshotThreshold:  8192,
		SnapshotInterval:   30 * time.Second,
		TrailingLogs:       10240,
		SnapshotRetain:     2,
		ApplyTimeout:       10 * time.Second,
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("cluster: node id is required")
	}
	if c.DataDir == "" {
		return errors.New("cluster: data dir is required")
	}
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		return fmt.Errorf("cluster: raft address %q: %w", c.RaftAddr, err)
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		return errors.New("cluster: leader lease timeout must not exceed the heartbeat timeout")
	}
	if c.HeartbeatTimeout <= 0 || c.ElectionTimeout <= 0 || c.CommitTimeout <= 0 {
		return errors.New("cluster: raft timeouts must be positive")
	}
	if c.SnapshotRetain < 1 {
		return errors.New("cluster: snapshot retain must be at least 1")
	}
	if c.ApplyTimeout <= 0 {
		return errors.New("cluster: apply timeout must be positive")
	}
	return nil
}
