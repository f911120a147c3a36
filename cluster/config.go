package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Node.
type Config struct {
	// NodeID is the stable raft server id.
	NodeID string
	// DataDir holds raft/log (pebble) and raft/snapshots.
	DataDir string
	// RaftAddr is the address raft and node-to-node RPC bind and
	// advertise.
	RaftAddr string
	// GossipAddr is the memberlist bind and advertise address. Empty
	// disables discovery: a single node that never grows.
	GossipAddr string
	// HTTPAddr is advertised to peers so operators can list it.
	HTTPAddr string
	// Join lists gossip addresses of any live members; the node keeps
	// retrying until one answers.
	Join []string
	// BootstrapExpect waits for this many fresh servers and bootstraps
	// them together; 0 bootstraps alone when there is no Join.
	BootstrapExpect int
	// ClusterSecret encrypts gossip and authenticates node-to-node
	// connections. Required once there is more than one node.
	ClusterSecret string
	// TLS wraps raft and RPC connections when set.
	TLS TLSFiles
	// Version is advertised in gossip.
	Version string

	// ReconcileInterval is how often the leader reconciles membership.
	ReconcileInterval time.Duration
	// Stabilization is how long a new member must stay caught up before it
	// becomes a voter.
	Stabilization time.Duration
	// DeadServerTimeout is how long a member may be gone from gossip before
	// the leader removes it from raft (never below quorum).
	DeadServerTimeout time.Duration
	// ForwardHold bounds how long a write waits and retries for a leader
	// across an election before giving up with ErrNotLeader.
	ForwardHold time.Duration

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

	// Space, when set, says whether this node's disk is below its
	// reserve; Apply then refuses new writes (see Apply).
	Space Space

	Logger   *slog.Logger
	Registry prometheus.Registerer

	// tuneGossip adjusts memberlist's configuration; tests shorten its
	// timers with it.
	tuneGossip func(*memberlist.Config)
	// logVersion, when set, stands in for the build's fsm.LogVersion in
	// what the node announces (tests of a mixed-build cluster).
	logVersion *int
	// faults, when set, partitions and delays node-to-node links (tests).
	faults *faults
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
		ReconcileInterval:  time.Second,
		Stabilization:      10 * time.Second,
		DeadServerTimeout:  5 * time.Minute,
		ForwardHold:        10 * time.Second,
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
	if c.GossipAddr != "" {
		if _, _, err := net.SplitHostPort(c.GossipAddr); err != nil {
			return fmt.Errorf("cluster: gossip address %q: %w", c.GossipAddr, err)
		}
	}
	multi := len(c.Join) > 0 || c.BootstrapExpect > 1
	if multi && c.GossipAddr == "" {
		return errors.New("cluster: joining or --bootstrap-expect needs a gossip address")
	}
	if multi && c.ClusterSecret == "" {
		return errors.New("cluster: TENSORGATE_CLUSTER_SECRET is required for a multi-node cluster (it encrypts gossip and authenticates nodes)")
	}
	if c.ClusterSecret != "" && len(c.ClusterSecret) < 16 {
		return errors.New("cluster: TENSORGATE_CLUSTER_SECRET must be at least 16 characters")
	}
	if c.BootstrapExpect < 0 {
		return errors.New("cluster: bootstrap-expect must not be negative")
	}
	if c.TLS.enabled() {
		if _, err := c.TLS.load(); err != nil {
			return err
		}
	}
	if c.ReconcileInterval <= 0 || c.Stabilization < 0 || c.DeadServerTimeout <= 0 || c.ForwardHold <= 0 {
		return errors.New("cluster: reconcile interval, dead server timeout and forward hold must be positive")
	}
	return nil
}
