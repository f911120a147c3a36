package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// memberMeta is what each node tells its peers through gossip.
type memberMeta struct {
	RaftAddr string `json:"raft"`
	HTTPAddr string `json:"http,omitempty"`
	Version  string `json:"version,omitempty"`
	// Expect is the node's --bootstrap-expect.
	Expect int `json:"expect,omitempty"`
	// Fresh is true while the node has no raft state: it may take part in
	// a bootstrap-expect bootstrap.
	Fresh bool `json:"fresh,omitempty"`
	// Features lists what this node's build understands in the log, so
	// a proposer uses a feature only once every server does.
	Features []string `json:"features,omitempty"`
	// LogVersion is the highest log version this node's build applies
	// (fsm.LogVersion); the leader raises the cluster's to the lowest one
	// every server announces.
	LogVersion int `json:"log_version,omitempty"`
}

// featureDeadlines: the node applies a command appended after its
// Deadline as a no-op. An older node would apply it, and the state
// machines would diverge.
const featureDeadlines = "deadlines"

// features are what this build announces.
var features = []string{featureDeadlines}

// Member is a gossip member as seen by this node.
type Member struct {
	ID         string
	GossipAddr string
	memberMeta
}

// discovery runs memberlist for a node.
type discovery struct {
	n  *Node
	ml *memberlist.Memberlist

	mu   sync.Mutex
	meta memberMeta

	// live mirrors memberlist's live nodes, copied inside its event
	// callbacks: the *Node values memberlist hands out keep changing under
	// its own lock, so reading them later would race.
	liveMu sync.RWMutex
	live   map[string]Member
	// seen holds the last gossip address of every member ever live, to
	// reach it again after it was declared dead (see rejoin).
	seen map[string]string

	rejoining  atomic.Bool
	lastRejoin time.Time // touched only by the reconcile loop
}

func newDiscovery(n *Node) (*discovery, error) {
	host, portStr, err := net.SplitHostPort(n.cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", n.cfg.GossipAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("gossip port %q: %w", portStr, err)
	}
	d := &discovery{n: n, live: map[string]Member{}, seen: map[string]string{}, meta: memberMeta{
		RaftAddr: n.cfg.RaftAddr, HTTPAddr: n.cfg.HTTPAddr, Version: n.cfg.Version,
		Expect: n.cfg.BootstrapExpect, Fresh: !n.hasState(), Features: features,
		LogVersion: n.buildLogVersion(),
	}}
	// memberlist binds and advertises IPs: a host name (a container's
	// or pod's) is resolved to the address it has now.
	if net.ParseIP(host) == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("gossip address %q: cannot resolve %s: %v", n.cfg.GossipAddr, host, err)
		}
		host = ips[0].String()
		for _, ip := range ips {
			if ip.To4() != nil {
				host = ip.String()
				break
			}
		}
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = n.cfg.NodeID
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	mc.Delegate = d
	mc.Events = (*discoveryEvents)(d)
	mc.Logger = nil
	mc.LogOutput = &memberlistLog{lg: n.base.With("component", "gossip")}
	if n.cfg.ClusterSecret != "" {
		mc.SecretKey = deriveKey(n.cfg.ClusterSecret, "gossip v1")
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	// A restarted node comes back under the same name from the same or a
	// new address; let it reclaim its name quickly.
	mc.DeadNodeReclaimTime = 5 * time.Second
	if n.cfg.tuneGossip != nil {
		n.cfg.tuneGossip(mc)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", n.cfg.GossipAddr, err)
	}
	d.ml = ml
	return d, nil
}

// members returns the live gossip members with their metadata.
func (d *discovery) members() []Member {
	d.liveMu.RLock()
	out := make([]Member, 0, len(d.live))
	for _, m := range d.live {
		out = append(out, m)
	}
	d.liveMu.RUnlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// discoveryEvents keeps discovery.live current; memberlist calls it while
// the node it passes is stable.
type discoveryEvents discovery

func (e *discoveryEvents) NotifyJoin(n *memberlist.Node)   { e.put(n) }
func (e *discoveryEvents) NotifyUpdate(n *memberlist.Node) { e.put(n) }
func (e *discoveryEvents) NotifyLeave(n *memberlist.Node) {
	e.liveMu.Lock()
	delete(e.live, n.Name)
	e.liveMu.Unlock()
}

func (e *discoveryEvents) put(n *memberlist.Node) {
	var meta memberMeta
	if err := json.Unmarshal(n.Meta, &meta); err != nil || meta.RaftAddr == "" {
		return
	}
	m := Member{ID: n.Name, GossipAddr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), memberMeta: meta}
	e.liveMu.Lock()
	e.live[n.Name] = m
	e.seen[n.Name] = m.GossipAddr
	e.liveMu.Unlock()
}

// rejoinInterval is how often a node tries to reach raft servers that
// gossip holds for dead.
const rejoinInterval = 5 * time.Second

// rejoin contacts, in the background, the raft servers gossip does not
// show as live, at their last known gossip address (or --join). After a
// partition both sides hold each other dead, and memberlist stops talking
// to the dead after a while: without this they would stay apart in
// gossip for good while raft, which retries on its own, is whole again.
func (d *discovery) rejoin(servers []raft.Server, now time.Time) {
	if now.Sub(d.lastRejoin) < rejoinInterval || d.rejoining.Load() {
		return
	}
	d.lastRejoin = now
	var addrs []string
	d.liveMu.RLock()
	for _, s := range servers {
		id := string(s.ID)
		if id == d.n.cfg.NodeID {
			continue
		}
		if _, ok := d.live[id]; ok {
			continue
		}
		if a, ok := d.seen[id]; ok {
			addrs = append(addrs, a)
		}
	}
	d.liveMu.RUnlock()
	if len(addrs) == 0 {
		return
	}
	d.rejoining.Store(true)
	if !d.n.spawn(func() {
		defer d.rejoining.Store(false)
		if n, err := d.ml.Join(addrs); n > 0 {
			d.n.log.Info("reached members gossip held for dead", "contacted", n)
		} else {
			d.n.log.Debug("members gossip holds for dead are still unreachable", "addrs", addrs, "err", err)
		}
	}) {
		d.rejoining.Store(false)
	}
}

// setFresh updates whether this node advertises itself as fresh.
func (d *discovery) setFresh(fresh bool) {
	d.mu.Lock()
	changed := d.meta.Fresh != fresh
	d.meta.Fresh = fresh
	d.mu.Unlock()
	if changed {
		_ = d.ml.UpdateNode(time.Second)
	}
}

// leave announces a graceful departure and stops gossip. Peers see the node
// as left; the leader removes it from raft only after DeadServerTimeout, so
// a restart is not a removal.
func (d *discovery) leave() error {
	if err := d.ml.Leave(time.Second); err != nil {
		d.n.log.Warn("leave gossip", "err", err)
	}
	return d.ml.Shutdown()
}

// NodeMeta implements memberlist.Delegate.
func (d *discovery) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, _ := json.Marshal(d.meta)
	if len(b) > limit {
		b, _ = json.Marshal(memberMeta{RaftAddr: d.meta.RaftAddr, Fresh: d.meta.Fresh, Expect: d.meta.Expect})
	}
	return b
}

// NotifyMsg implements memberlist.Delegate: a peer's notice. memberlist
// reuses the buffer after the call, so it is copied first.
func (d *discovery) NotifyMsg(b []byte) {
	d.n.deliver(append([]byte(nil), b...))
}

func (d *discovery) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *discovery) LocalState(join bool) []byte                { return nil }
func (d *discovery) MergeRemoteState(buf []byte, join bool)     {}

// joinLoop joins the gossip pool through --join, retrying until it works,
// since a node may start before its peers.
func (n *Node) joinLoop() {
	defer n.wg.Done()
	if len(n.cfg.Join) == 0 {
		return
	}
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		joined, err := n.disc.ml.Join(n.cfg.Join)
		if joined > 0 {
			n.log.Info("joined the gossip pool", "via", n.cfg.Join, "contacted", joined)
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			n.log.Warn("cannot reach any member to join yet; retrying", "join", n.cfg.Join, "err", err)
		}
		select {
		case <-n.stop:
			return
		case <-time.After(wait):
		}
		if wait < 5*time.Second {
			wait *= 2
		}
	}
}

// bootstrapExpectLoop waits until BootstrapExpect fresh servers that all
// expect the same number see each other, then bootstraps raft with all of
// them as voters. Every one of them computes the same configuration, which
// is what makes a simultaneous bootstrap safe. If any member already has
// state, there is a cluster to join instead, and this node never
// bootstraps.
func (n *Node) bootstrapExpectLoop() {
	defer n.wg.Done()
	if n.hasState() {
		return
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.hasState() {
			return // added to a cluster by its leader
		}
		var servers []raft.Server
		existing := false
		for _, m := range n.disc.members() {
			if !m.Fresh {
				existing = true
				continue
			}
			if m.Expect != n.cfg.BootstrapExpect {
				continue
			}
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.RaftAddr)})
		}
		if existing {
			n.log.Info("found a member with existing state; waiting to be added instead of bootstrapping")
			return
		}
		if len(servers) < n.cfg.BootstrapExpect {
			continue
		}
		servers = servers[:n.cfg.BootstrapExpect]
		if !slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == n.cfg.NodeID }) {
			continue
		}
		err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
		if err != nil && err != raft.ErrCantBootstrap {
			n.log.Error("bootstrap with peers", "err", err)
			continue
		}
		n.log.Info("bootstrapped the cluster with its expected peers", "servers", len(servers))
		return
	}
}

// hasState reports whether raft has any log, term or snapshot.
func (n *Node) hasState() bool {
	if n.raft == nil {
		return false
	}
	return n.raft.LastIndex() > 0
}

// memberlistLog routes memberlist's "[LEVEL] memberlist: ..." lines to slog.
type memberlistLog struct{ lg *slog.Logger }

func (w *memberlistLog) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		s := string(line)
		lvl := slog.LevelInfo
		switch {
		case strings.Contains(s, "[DEBUG]"):
			lvl = slog.LevelDebug
		case strings.Contains(s, "[WARN]"):
			lvl = slog.LevelWarn
		case strings.Contains(s, "[ERR]"):
			lvl = slog.LevelError
		}
		if i := strings.Index(s, "memberlist: "); i >= 0 {
			s = s[i+len("memberlist: "):]
		}
		w.lg.Log(context.Background(), lvl, s)
	}
	return len(p), nil
}

var _ io.Writer = (*memberlistLog)(nil)
