package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/raftlog"
)

// Errors returned by Apply.
var (
	ErrNotLeader = errors.New("cluster: not leader")
	ErrShutdown  = errors.New("cluster: node is shut down")
	ErrTimeout   = errors.New("cluster: timed out waiting for the write to commit")
)

// Node is one raft member holding the fsm.
type Node struct {
	cfg     Config
	base    *slog.Logger // without a component, for raft and the log store
	log     *slog.Logger
	fsm     *fsm.FSM
	raft    *raft.Raft
	store   *raftlog.Store
	trans   *raft.NetworkTransport
	metrics *metrics
	stop    chan struct{}
	done    chan struct{}
}

// New opens the node's stores and starts raft. A node with no existing state
// bootstraps a single-voter cluster of itself when bootstrap is true; a node
// with state resumes from it whatever bootstrap says.
func New(cfg Config, f *fsm.FSM, bootstrap bool) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, base: lg, log: lg.With("component", "cluster"), fsm: f, stop: make(chan struct{}), done: make(chan struct{})}
	if err := n.open(bootstrap); err != nil {
		n.closeStores()
		return nil, err
	}
	n.metrics = newMetrics(n, cfg.Registry)
	go n.observe()
	return n, nil
}

func (n *Node) open(bootstrap bool) error {
	raftDir := filepath.Join(n.cfg.DataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return fmt.Errorf("create raft dir: %w", err)
	}
	if err := checkNodeID(raftDir, n.cfg.NodeID); err != nil {
		return err
	}
	store, err := raftlog.Open(filepath.Join(raftDir, "log"), raftlog.Options{Logger: n.base})
	if err != nil {
		return err
	}
	n.store = store
	hlog := newHCLogger(n.base.With("component", "raft"), "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, n.cfg.SnapshotRetain, hlog)
	if err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}
	trans, err := raft.NewTCPTransportWithLogger(n.cfg.RaftAddr, nil, 3, 10*time.Second, hlog)
	if err != nil {
		return fmt.Errorf("listen for raft on %s: %w", n.cfg.RaftAddr, err)
	}
	n.trans = trans

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = n.cfg.CommitTimeout
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.Logger = hlog

	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("inspect raft state: %w", err)
	}
	r, err := raft.NewRaft(rc, n.fsm, store, store, snaps, trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	switch {
	case existing:
		n.log.Info("resuming from existing raft state", "data_dir", n.cfg.DataDir)
	case bootstrap:
		n.log.Info("bootstrapping a new single-node cluster", "raft_addr", n.cfg.RaftAddr)
		cfg := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: trans.LocalAddr(),
		}}}
		if err := r.BootstrapCluster(cfg).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("bootstrap raft: %w", err)
		}
	default:
		n.log.Info("waiting to be added to an existing cluster")
	}
	return nil
}

// checkNodeID records the node id in the data dir on first start and refuses
// to start the same data under another id, which would confuse the cluster.
func checkNodeID(dir, id string) error {
	p := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
			return fmt.Errorf("record node id: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read node id: %w", err)
	}
	if got := string(trimNL(b)); got != id {
		return fmt.Errorf("cluster: data dir %s belongs to node %q, not %q; start with --node-id %s or use another data dir", dir, got, id, got)
	}
	return nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Apply proposes a command and waits until it is committed and applied on
// this node. The proposer fills in the id and time when they are empty. A
// business-rule rejection comes back as the fsm's *fsm.Error.
func (n *Node) Apply(ctx context.Context, c fsm.Command) (any, error) {
	if c.ID == "" {
		c.ID = newID()
	}
	if c.Time.IsZero() {
		c.Time = time.Now().UTC()
	}
	data, err := c.Encode()
	if err != nil {
		return nil, err
	}
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return nil, ErrTimeout
		}
	}
	start := time.Now()
	fut := n.raft.Apply(data, timeout)
	errc := make(chan error, 1)
	go func() { errc <- fut.Error() }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		// The entry may still commit; the caller learns it did not wait.
		return nil, fmt.Errorf("apply command %d: %w", c.Type, ctx.Err())
	}
	n.metrics.commit.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return nil, ErrNotLeader
	case errors.Is(err, raft.ErrRaftShutdown):
		return nil, ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return nil, ErrTimeout
	default:
		return nil, fmt.Errorf("apply command %d: %w", c.Type, err)
	}
	if err, ok := fut.Response().(error); ok {
		return nil, err
	}
	return fut.Response(), nil
}

// WaitForLeader blocks until the cluster has a leader or ctx ends.
func (n *Node) WaitForLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for a raft leader: %w", ctx.Err())
		case <-n.stop:
			return ErrShutdown
		case <-t.C:
		}
	}
}

// IsLeader reports whether this node is the raft leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Status is a point-in-time summary of the node's raft state.
type Status struct {
	NodeID       string `json:"node_id"`
	Leader       string `json:"leader"`
	State        string `json:"raft_state"`
	Term         uint64 `json:"term"`
	AppliedIndex uint64 `json:"applied_index"`
	CommitIndex  uint64 `json:"commit_index"`
	LastIndex    uint64 `json:"last_index"`
}

// Status reports the node's raft state.
func (n *Node) Status() Status {
	_, leader := n.raft.LeaderWithID()
	st := n.raft.Stats()
	return Status{
		NodeID:       n.cfg.NodeID,
		Leader:       string(leader),
		State:        n.raft.State().String(),
		Term:         parseUint(st["term"]),
		AppliedIndex: n.raft.AppliedIndex(),
		CommitIndex:  parseUint(st["commit_index"]),
		LastIndex:    n.raft.LastIndex(),
	}
}

// Snapshot asks raft to take a snapshot now and compacts the log behind it.
func (n *Node) Snapshot() error {
	if err := n.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("take raft snapshot: %w", err)
	}
	return nil
}

// Shutdown stops raft and closes the stores. It does not leave the cluster:
// a restart with the same data dir is a returning member.
func (n *Node) Shutdown() error {
	select {
	case <-n.stop:
		return nil
	default:
	}
	close(n.stop)
	<-n.done
	var errs []error
	if n.raft != nil {
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shut down raft: %w", err))
		}
	}
	if n.metrics != nil {
		n.metrics.unregister()
	}
	errs = append(errs, n.closeStores())
	return errors.Join(errs...)
}

func (n *Node) closeStores() error {
	var errs []error
	if n.trans != nil {
		errs = append(errs, n.trans.Close())
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	return errors.Join(errs...)
}

// observe follows leadership changes for logs and metrics until shutdown.
func (n *Node) observe() {
	defer close(n.done)
	for {
		select {
		case <-n.stop:
			return
		case isLeader := <-n.raft.LeaderCh():
			n.metrics.leaderChanges.Inc()
			n.log.Info("leadership changed", "leader", isLeader, "term", n.Status().Term)
		}
	}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
