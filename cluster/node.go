package cluster

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	auth    *peerAuth
	mux     *mux
	disc    *discovery
	metrics *metrics
	stop    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup // RPC handlers, background loops and spawned tasks
	// life guards closing: once Shutdown has begun, spawn starts nothing
	// and removedFromCluster touches neither gossip nor raft.
	life         sync.Mutex
	closing      bool
	shutdownOnce sync.Once
	removed      atomic.Bool
	// clock estimates the leader's clock minus this node's.
	clock clockOffset
	// evicted holds ids removed by an operator that gossip still shows;
	// the reconciler must not add them back before they leave.
	evictedMu sync.Mutex
	evicted   map[raft.ServerID]bool
	ready     atomic.Bool // latched by CaughtUp
	// leaderReady is the term in which this node, as leader, last saw its
	// state machine apply everything before a barrier.
	leaderReady atomic.Uint64
	notices     notices
	started     time.Time
	pauses      pauseWatch
}

// New opens the node's stores and starts raft. A node with existing state
// resumes from it. A fresh node bootstraps a single-voter cluster of itself
// when it has nothing to join and no peers to expect; with --join it waits
// to be added by the leader; with --bootstrap-expect N it bootstraps
// together with N-1 other fresh servers it finds through gossip.
func New(cfg Config, f *fsm.FSM) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, base: lg, log: lg.With("component", "cluster"), fsm: f, stop: make(chan struct{}), done: make(chan struct{}), started: time.Now()}
	n.auth = &peerAuth{nodeID: cfg.NodeID, faults: cfg.faults}
	if cfg.ClusterSecret != "" {
		n.auth.key = deriveKey(cfg.ClusterSecret, "node-auth v1")
	}
	if cfg.TLS.enabled() {
		tc, err := cfg.TLS.load()
		if err != nil {
			return nil, err
		}
		n.auth.tls = tc
	}
	solo := len(cfg.Join) == 0 && cfg.BootstrapExpect <= 1
	if err := n.open(solo); err != nil {
		n.closeStores()
		return nil, err
	}
	n.metrics = newMetrics(n, cfg.Registry)
	go n.observe()
	n.pauses.tick(time.Now())
	n.wg.Add(2)
	go n.catchUpLoop()
	go n.watchPauses()
	switch {
	case cfg.GossipAddr == "":
		n.wg.Add(1)
		go n.aloneLoop()
	case cfg.ClusterSecret == "":
		// Without a secret nothing could tell a peer from a stranger, so a
		// node without one runs alone: no gossip, no inbound peers.
		n.log.Info("no TENSORGATE_CLUSTER_SECRET: gossip is off and this node runs alone")
		n.wg.Add(1)
		go n.aloneLoop()
	default:
		d, err := newDiscovery(n)
		if err != nil {
			_ = n.Shutdown()
			return nil, err
		}
		n.disc = d
		n.startNoticeSenders()
		n.wg.Add(2)
		go n.joinLoop()
		go n.reconcileLoop()
		if cfg.BootstrapExpect > 1 {
			n.wg.Add(1)
			go n.bootstrapExpectLoop()
		}
	}
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
	m, err := newMux(n.cfg.RaftAddr, n.auth, n.log)
	if err != nil {
		return fmt.Errorf("listen for raft on %s: %w", n.cfg.RaftAddr, err)
	}
	n.mux = m
	advertise, err := advertiseAddr(n.cfg.RaftAddr)
	if err != nil {
		return err
	}
	layer := &raftLayer{subListener: m.listener(connRaft), auth: n.auth, advertise: advertise}
	trans := raft.NewNetworkTransportWithLogger(layer, 3, 10*time.Second, hlog)
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

	if err := n.recoverFromPeersJSON(raftDir, rc, store, snaps, trans); err != nil {
		return err
	}
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("inspect raft state: %w", err)
	}
	r, err := raft.NewRaft(rc, n.fsm, store, store, snaps, trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	// RPCs read n.raft: serve them only now.
	n.wg.Add(1)
	go n.serveRPC(m.listener(connRPC))
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
	case n.cfg.BootstrapExpect > 1:
		n.log.Info("waiting for peers to bootstrap together", "expect", n.cfg.BootstrapExpect)
	default:
		n.log.Info("waiting to be added to an existing cluster", "join", n.cfg.Join)
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
	// StateIndex is the last command the state machine has applied. Raft
	// counts an entry applied once it hands it over, and counts entries
	// (elections' no-ops, barriers) the state machine never sees.
	StateIndex uint64 `json:"state_index"`
	// LogVersion is the cluster's log version as this node has applied
	// it; BuildLogVersion the highest this node's build applies.
	LogVersion      int `json:"log_version"`
	BuildLogVersion int `json:"build_log_version"`
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
		StateIndex:   n.fsm.AppliedIndex(),

		LogVersion:      n.clusterLogVersion(),
		BuildLogVersion: n.buildLogVersion(),
	}
}

// CaughtUp reports whether this node has, since it started, known a leader
// and applied everything that leader had committed: until then its state
// may lack keys and providers that exist, and it should not take traffic.
// Once true it stays true, so a follower keeps serving through elections.
func (n *Node) CaughtUp() bool {
	if n.ready.Load() {
		return true
	}
	st := n.Status()
	if st.Leader == "" || st.CommitIndex == 0 || st.AppliedIndex < st.CommitIndex || st.StateIndex == 0 {
		return false
	}
	// Raft has handed every committed entry over, but the state machine
	// may still be applying them (a restart replaying its log). Behind a
	// leader too old to say how far its state is, what raft says is all
	// there is: waiting for its raft index could wait for a write that an
	// idle cluster, with this node out of the load balancer, never makes.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if n.barrier(ctx, false) != nil {
		return false
	}
	n.ready.Store(true)
	return true
}

// Ready reports, without waiting, whether CaughtUp has become true: the
// data plane asks it on every request.
func (n *Node) Ready() bool { return n.ready.Load() }

// catchUpLoop checks CaughtUp until it holds, so Ready turns true without
// anyone asking for health.
func (n *Node) catchUpLoop() {
	defer n.wg.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !n.CaughtUp() {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
	n.log.Info("caught up with the cluster; serving", "applied_index", n.fsm.AppliedIndex())
}

// Snapshot asks raft to take a snapshot now and compacts the log behind it.
func (n *Node) Snapshot() error {
	if err := n.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("take raft snapshot: %w", err)
	}
	return nil
}

// Shutdown stops raft and closes the stores, and returns once every
// goroutine the node started has ended. It does not leave the cluster: a
// restart with the same data dir is a returning member. It may be called
// more than once and from several goroutines; every call waits for the
// first to finish, and only the first returns its error.
func (n *Node) Shutdown() error {
	var err error
	n.shutdownOnce.Do(func() { err = n.shutdown() })
	return err
}

func (n *Node) shutdown() error {
	// Taking life waits for a removal in progress to finish with gossip
	// and raft; after this nothing new is spawned.
	n.life.Lock()
	n.closing = true
	n.life.Unlock()
	close(n.stop)
	<-n.done
	var errs []error
	if n.disc != nil {
		errs = append(errs, n.disc.leave())
	}
	if n.mux != nil {
		// Stop taking node-to-node connections before raft goes away.
		errs = append(errs, n.mux.Close())
	}
	if n.raft != nil {
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shut down raft: %w", err))
		}
	}
	if n.mux != nil && !n.mux.drainRaft(5*time.Second) {
		n.log.Warn("raft connections still busy at shutdown")
	}
	n.wg.Wait()
	if n.metrics != nil {
		n.metrics.unregister()
	}
	errs = append(errs, n.closeStores())
	return errors.Join(errs...)
}

// spawn runs f in a goroutine that Shutdown waits for. Once Shutdown has
// begun it starts nothing and reports false. f must end soon after n.stop
// closes or raft shuts down.
func (n *Node) spawn(f func()) bool {
	n.life.Lock()
	defer n.life.Unlock()
	if n.closing {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

func (n *Node) closeStores() error {
	var errs []error
	if n.trans != nil {
		errs = append(errs, n.trans.Close())
	}
	if n.mux != nil {
		errs = append(errs, n.mux.Close()) // idempotent
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

// deriveKey derives a 32-byte key for one use from the cluster secret.
func deriveKey(secret, info string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(secret), []byte("tensorgate-cluster"), info, 32)
	if err != nil {
		panic(err) // only fails for absurd lengths
	}
	return k
}

// recoverFromPeersJSON implements manual recovery after losing a majority:
// an operator writes raft/peers.json ([{"id","address"}...], the surviving
// servers) on every survivor and starts them; the configuration is forced
// into the log and the file removed. Without the file this does nothing.
func (n *Node) recoverFromPeersJSON(raftDir string, rc *raft.Config, store *raftlog.Store, snaps raft.SnapshotStore, trans raft.Transport) error {
	path := filepath.Join(raftDir, "peers.json")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	conf, err := raft.ReadConfigJSON(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	n.log.Warn("recovering the cluster from peers.json", "servers", len(conf.Servers))
	if err := raft.RecoverCluster(rc, fsm.New(), store, store, snaps, trans, conf); err != nil {
		return fmt.Errorf("recover from %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove %s after recovery: %w", path, err)
	}
	return nil
}

// hostAddr is an advertised address kept as a host name, so peers store a
// name that survives the node's IP changing (a restarted pod or
// container), not the IP it had.
type hostAddr string

func (a hostAddr) Network() string { return "tcp" }
func (a hostAddr) String() string  { return string(a) }

// advertiseAddr is what raft tells peers to dial: the raft address as
// given when it names a host (checked to resolve), its IP otherwise.
func advertiseAddr(raftAddr string) (net.Addr, error) {
	host, _, _ := net.SplitHostPort(raftAddr)
	tcp, err := net.ResolveTCPAddr("tcp", raftAddr)
	if err != nil || tcp.IP == nil || tcp.IP.IsUnspecified() {
		return nil, fmt.Errorf("cluster: raft address %q must name this node's host or IP, not a wildcard", raftAddr)
	}
	if net.ParseIP(host) == nil {
		return hostAddr(raftAddr), nil
	}
	return tcp, nil
}
