package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Errors of membership operations.
var (
	ErrUnknownMember = errors.New("cluster: no such member")
	ErrLastMember    = errors.New("cluster: cannot remove the last voter")
)

// MemberInfo describes one member for operators.
type MemberInfo struct {
	ID           string `json:"id"`
	RaftAddr     string `json:"raft_addr"`
	GossipAddr   string `json:"gossip_addr"`
	HTTPAddr     string `json:"http_addr"`
	Role         string `json:"role"` // leader, follower, nonvoter, or none (gossip only)
	Alive        bool   `json:"alive"`
	AppliedIndex uint64 `json:"applied_index"`
	Version      string `json:"version,omitempty"`
}

// Members lists raft servers and gossip members, asking each live one for
// its applied index.
func (n *Node) Members(ctx context.Context) ([]MemberInfo, error) {
	fut := n.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	_, leader := n.raft.LeaderWithID()
	byID := map[string]*MemberInfo{}
	for _, s := range fut.Configuration().Servers {
		role := "follower"
		switch {
		case s.Suffrage != raft.Voter:
			role = "nonvoter"
		case s.ID == leader:
			role = "leader"
		}
		byID[string(s.ID)] = &MemberInfo{ID: string(s.ID), RaftAddr: string(s.Address), Role: role}
	}
	if n.disc != nil {
		for _, m := range n.disc.members() {
			mi := byID[m.ID]
			if mi == nil {
				mi = &MemberInfo{ID: m.ID, RaftAddr: m.RaftAddr, Role: "none"}
				byID[m.ID] = mi
			}
			mi.Alive, mi.GossipAddr, mi.HTTPAddr, mi.Version = true, m.GossipAddr, m.HTTPAddr, m.Version
		}
	}
	self := byID[n.cfg.NodeID]
	if self != nil {
		self.Alive, self.HTTPAddr, self.Version = true, n.cfg.HTTPAddr, n.cfg.Version
		self.GossipAddr = n.cfg.GossipAddr
	}
	// Gossip alone can be wrong for a while (after a partition both
	// sides hold each other dead until they meet again), so every member
	// with a raft address is asked directly too: one that answers is
	// alive, whatever gossip says.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, mi := range byID {
		if mi.ID == n.cfg.NodeID {
			mi.AppliedIndex = n.raft.AppliedIndex()
			continue
		}
		if mi.RaftAddr == "" {
			continue
		}
		wg.Add(1)
		go func(mi *MemberInfo) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			st, err := n.statusOf(cctx, raft.ServerAddress(mi.RaftAddr))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				mi.Alive, mi.AppliedIndex = true, st.AppliedIndex
			}
		}(mi)
	}
	wg.Wait()
	out := make([]MemberInfo, 0, len(byID))
	for _, mi := range byID {
		out = append(out, *mi)
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Leader returns the current leader's id, or "" during an election.
func (n *Node) Leader() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// Remove takes a member out of raft for good and tells it to leave gossip
// and stop. It works from any node: the removal itself runs on the leader.
func (n *Node) Remove(ctx context.Context, id string) error {
	fut := n.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return err
	}
	var target *raft.Server
	voters := 0
	for _, s := range fut.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
		if string(s.ID) == id {
			s := s
			target = &s
		}
	}
	if target == nil {
		return fmt.Errorf("%w: %q", ErrUnknownMember, id)
	}
	if target.Suffrage == raft.Voter && voters == 1 {
		return ErrLastMember
	}
	if err := n.onLeader(ctx, func() error {
		n.evict(target.ID)
		return n.raft.RemoveServer(target.ID, 0, 0).Error()
	}, rpcRequest{Method: rpcRemove, TargetID: id}); err != nil {
		return err
	}
	// Best effort: a live removed node stops itself; a dead one is simply
	// gone.
	if id == n.cfg.NodeID {
		n.spawn(n.removedFromCluster)
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, _ = n.call(cctx, string(target.Address), rpcRequest{Method: rpcLeave})
	return nil
}

// DefaultTransferTimeout bounds TransferLeader when its context has no
// deadline.
const DefaultTransferTimeout = 10 * time.Second

// TransferLeader hands leadership to target (or to a voter raft picks),
// for rolling restarts. One raft transfer is bounded by an election
// timeout and can fail on a slow machine or a busy target, so it tries
// again until leadership has moved (to target, when one is named) and
// this node knows the new leader, or ctx ends (DefaultTransferTimeout
// when it has no deadline).
func (n *Node) TransferLeader(ctx context.Context, target string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTransferTimeout)
		defer cancel()
	}
	// The leader checks the target against the configuration that
	// counts; a follower's may not yet hold a member just added, so a
	// follower leaves a named target to the leader (transferLocal).
	if target == "" || n.IsLeader() {
		if err := n.checkVoter(target); err != nil {
			return err
		}
	}
	from := n.Leader()
	moved := func() bool {
		l := n.Leader()
		return l != "" && l != from && (target == "" || l == target)
	}
	var last error
	for attempt := 1; ; attempt++ {
		if target != "" && n.Leader() == target {
			return nil // already there
		}
		err := n.onLeader(ctx, func() error { return n.transferLocal(target) },
			rpcRequest{Method: rpcTransfer, TargetID: target})
		if errors.Is(err, ErrUnknownMember) || errors.Is(err, ErrNotVoter) {
			return err
		}
		if err != nil {
			last = err
			n.log.Info("leadership transfer attempt failed; trying again", "attempt", attempt, "target", target, "err", err)
		}
		// Give the new leader a moment to be known here.
		for wait := time.Now().Add(time.Second); time.Now().Before(wait); {
			if moved() {
				return nil
			}
			if from == "" {
				from = n.Leader() // there was no leader when asked
			}
			select {
			case <-ctx.Done():
				if last == nil {
					last = errors.New("leadership has not moved")
				}
				return fmt.Errorf("%w: %v", ErrTransferTimeout, last)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// ErrTransferTimeout: leadership did not move within the transfer's bound.
var ErrTransferTimeout = errors.New("cluster: leadership transfer did not complete in time")

// ErrNotVoter: leadership can only go to a voter.
var ErrNotVoter = errors.New("cluster: not a voter")

// ErrNoOtherVoter: there is no voter to hand leadership to.
var ErrNoOtherVoter = errors.New("cluster: no other voter to hand leadership to")

// checkVoter reports whether id is a voter in this node's configuration;
// with id empty, whether any voter other than the leader is.
func (n *Node) checkVoter(id string) error {
	fut := n.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return fmt.Errorf("read raft configuration: %w", err)
	}
	if id == "" {
		leader := n.Leader()
		for _, s := range fut.Configuration().Servers {
			if s.Suffrage == raft.Voter && string(s.ID) != leader {
				return nil
			}
		}
		return ErrNoOtherVoter
	}
	for _, s := range fut.Configuration().Servers {
		if string(s.ID) == id {
			if s.Suffrage != raft.Voter {
				return fmt.Errorf("%w: %s", ErrNotVoter, id)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownMember, id)
}

// onLeader runs local on the leader, or sends req to it, retrying across
// an election for up to ForwardHold like Apply does.
func (n *Node) onLeader(ctx context.Context, local func() error, req rpcRequest) error {
	_, err := n.retryOnLeader(ctx, func() (any, error) {
		if n.raft.State() == raft.Leader {
			return nil, local()
		}
		addr, _ := n.raft.LeaderWithID()
		if addr == "" {
			return nil, ErrNotLeader
		}
		resp, err := n.call(ctx, string(addr), req)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errForward, err)
		}
		if resp.Err != nil {
			return nil, resp.Err.toError()
		}
		return nil, nil
	})
	return err
}

func (n *Node) transferLocal(target string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if target == "" {
		return n.raft.LeadershipTransfer().Error()
	}
	fut := n.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return err
	}
	for _, s := range fut.Configuration().Servers {
		if string(s.ID) == target {
			if s.Suffrage != raft.Voter {
				return fmt.Errorf("%w: %s", ErrNotVoter, target)
			}
			return n.raft.LeadershipTransferToServer(s.ID, s.Address).Error()
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownMember, target)
}

// removedFromCluster stops this node's raft and gossip after an explicit
// removal; the process keeps running (health says "removed") until the
// operator stops it.
// It holds life throughout, so Shutdown neither runs beside it (memberlist
// panics on a Leave after its Shutdown) nor misses it: once Shutdown has
// begun it does nothing.
func (n *Node) removedFromCluster() {
	n.life.Lock()
	defer n.life.Unlock()
	if n.closing || n.removed.Swap(true) {
		return
	}
	n.log.Warn("this node was removed from the cluster; it no longer serves writes. Stop the process, or wipe its data dir to join again")
	if n.disc != nil {
		_ = n.disc.ml.Leave(time.Second)
	}
	_ = n.raft.Shutdown().Error()
}

// Removed reports whether this node was removed from its cluster.
func (n *Node) Removed() bool { return n.removed.Load() }

// evict remembers that an operator removed id, so the reconciler does not
// add it back while gossip still lists it.
func (n *Node) evict(id raft.ServerID) {
	n.evictedMu.Lock()
	defer n.evictedMu.Unlock()
	if n.evicted == nil {
		n.evicted = map[raft.ServerID]bool{}
	}
	n.evicted[id] = true
}

// isEvicted reports whether id was removed and is still in gossip; ids
// gossip no longer lists are forgotten, so a rebuilt node may join again.
func (n *Node) isEvicted(id raft.ServerID, alive map[raft.ServerID]Member) bool {
	n.evictedMu.Lock()
	defer n.evictedMu.Unlock()
	for e := range n.evicted {
		if _, ok := alive[e]; !ok {
			delete(n.evicted, e)
		}
	}
	return n.evicted[id]
}

// HTTPAddr returns the advertised HTTP address of a live member, from
// gossip (no network call), for requests one node makes to another on a
// client's behalf.
func (n *Node) HTTPAddr(id string) (string, bool) {
	if id == n.cfg.NodeID {
		return n.cfg.HTTPAddr, true
	}
	if n.disc == nil {
		return "", false
	}
	n.disc.liveMu.RLock()
	m, ok := n.disc.live[id]
	n.disc.liveMu.RUnlock()
	if !ok || m.HTTPAddr == "" {
		return "", false
	}
	return m.HTTPAddr, true
}
