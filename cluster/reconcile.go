package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// promoteLag is how far behind the leader's last index a non-voter may be
// and still count as caught up.
const promoteLag = 64

// reconcileLoop keeps raft membership in line with gossip, on the leader
// only, in the spirit of Consul's autopilot: new members join as
// non-voters and are promoted once caught up and stable; members gone for
// DeadServerTimeout are removed, never below quorum and never more than a
// minority at once.
func (n *Node) reconcileLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.ReconcileInterval)
	defer t.Stop()
	r := &reconciler{n: n, healthySince: map[raft.ServerID]time.Time{}, goneSince: map[raft.ServerID]time.Time{},
		versions: logVersions{n: n, warned: map[raft.ServerID]int{}}}
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.removed.Load() {
			continue
		}
		n.disc.setFresh(!n.hasState())
		r.versions.checkSelf()
		if fut := n.raft.GetConfiguration(); fut.Error() == nil {
			n.disc.rejoin(fut.Configuration().Servers, time.Now())
		}
		if n.raft.State() != raft.Leader {
			r.reset()
			r.measureClock(time.Now())
			continue
		}
		if err := r.pass(time.Now()); err != nil {
			n.log.Warn("reconcile membership", "err", err)
		}
		r.leaveFullDisk(time.Now())
	}
}

type reconciler struct {
	n            *Node
	healthySince map[raft.ServerID]time.Time
	goneSince    map[raft.ServerID]time.Time
	versions     logVersions
	// clockAsked is when a follower last asked the leader's status to
	// estimate the clock offset (reads do it too, when there are reads).
	clockAsked time.Time
	// fullSince is when this leader found its disk full (zero while it
	// is not); fullHandoff when it last tried to hand leadership away.
	fullSince, fullHandoff time.Time
}

// A leader whose disk has stayed full for fullHandoffAfter (not a brief
// dip) tries to hand leadership to another voter, then again every
// fullHandoffEvery while it stays full and leads.
const (
	fullHandoffAfter = 3 * time.Second
	fullHandoffEvery = 30 * time.Second
)

// leaveFullDisk, on a leader whose disk is below its reserve, hands
// leadership to another voter: a leader refuses every proposal while it
// cannot write its log (see applyLocal), so the cluster takes writes
// again once a node with space leads. Tried every fullHandoffEvery; a
// cluster of one, or one whose voters are all full, keeps refusing.
func (r *reconciler) leaveFullDisk(now time.Time) {
	n := r.n
	if n.cfg.Space == nil || !n.cfg.Space.Full() {
		r.fullSince = time.Time{}
		return
	}
	if r.fullSince.IsZero() {
		r.fullSince = now
	}
	if now.Sub(r.fullSince) < fullHandoffAfter || now.Sub(r.fullHandoff) < fullHandoffEvery {
		return
	}
	r.fullHandoff = now
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := n.TransferLeader(ctx, "")
	switch {
	case errors.Is(err, ErrNoOtherVoter):
	case err != nil:
		n.log.Warn("hand leadership away from a full disk", "err", err)
	default:
		n.log.Warn("handed leadership away: this node's disk is below its reserve", "leader", n.Leader())
	}
}

// clockEvery is how often a follower asks the leader for its clock.
const clockEvery = 10 * time.Second

// measureClock, on a follower, asks the leader's status every clockEvery
// so the clock offset is known on a node that serves no admin reads.
func (r *reconciler) measureClock(now time.Time) {
	if now.Sub(r.clockAsked) < clockEvery {
		return
	}
	r.clockAsked = now
	addr, _ := r.n.raft.LeaderWithID()
	if addr == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = r.n.statusOf(ctx, addr)
}

func (r *reconciler) reset() {
	clear(r.healthySince)
	clear(r.goneSince)
}

func (r *reconciler) pass(now time.Time) error {
	n := r.n
	fut := n.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return err
	}
	cfg := fut.Configuration()
	inRaft := map[raft.ServerID]raft.Server{}
	for _, s := range cfg.Servers {
		inRaft[s.ID] = s
	}
	alive := map[raft.ServerID]Member{}
	for _, m := range n.disc.members() {
		alive[raft.ServerID(m.ID)] = m
	}
	self := raft.ServerID(n.cfg.NodeID)

	// Add members raft does not know, replacing stale entries that hold
	// the same address under another id (a node rebuilt with a new id).
	for id, m := range alive {
		if id == self {
			continue
		}
		addr := raft.ServerAddress(m.RaftAddr)
		s, known := inRaft[id]
		switch {
		case !known && n.isEvicted(id, alive):
			// Removed by an operator; it is on its way out of gossip.
		case !known && !r.versions.admits(id, m):
			// Its build would apply the log differently.
		case !known:
			for _, other := range cfg.Servers {
				if other.Address == addr && other.ID != id && other.ID != self {
					n.log.Info("removing a stale member that held this address", "node_id", string(other.ID), "addr", string(addr))
					if err := n.raft.RemoveServer(other.ID, 0, 0).Error(); err != nil {
						return err
					}
				}
			}
			n.log.Info("adding a new member as a non-voter", "node_id", string(id), "addr", string(addr))
			if err := n.raft.AddNonvoter(id, addr, 0, 0).Error(); err != nil {
				return err
			}
			r.healthySince[id] = time.Time{}
		case s.Address != addr:
			// A returning member on a new address keeps its suffrage.
			n.log.Info("member moved to a new address", "node_id", string(id), "addr", string(addr))
			var err error
			if s.Suffrage == raft.Voter {
				err = n.raft.AddVoter(id, addr, 0, 0).Error()
			} else {
				err = n.raft.AddNonvoter(id, addr, 0, 0).Error()
			}
			if err != nil {
				return err
			}
		case s.Suffrage == raft.Nonvoter:
			r.maybePromote(now, s)
		}
	}

	if err := r.versions.raise(cfg, alive); err != nil {
		n.log.Warn("raise the cluster's log version", "err", err)
	}
	// Remove members gone too long, keeping a quorum of live voters.
	return r.removeDead(now, cfg, alive, self)
}

// maybePromote makes a caught-up non-voter a voter once it has stayed
// caught up for the stabilization period.
func (r *reconciler) maybePromote(now time.Time, s raft.Server) {
	n := r.n
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := n.statusOf(ctx, s.Address)
	if err != nil || st.AppliedIndex+promoteLag < n.raft.LastIndex() {
		r.healthySince[s.ID] = time.Time{}
		return
	}
	since := r.healthySince[s.ID]
	if since.IsZero() {
		r.healthySince[s.ID] = now
		since = now
	}
	if now.Sub(since) < n.cfg.Stabilization {
		return
	}
	n.log.Info("promoting a caught-up member to voter", "node_id", string(s.ID), "applied_index", st.AppliedIndex)
	if err := n.raft.AddVoter(s.ID, s.Address, 0, 0).Error(); err != nil {
		n.log.Warn("promote member", "node_id", string(s.ID), "err", err)
		return
	}
	delete(r.healthySince, s.ID)
}

// removeDead removes members that have been missing from gossip for longer
// than DeadServerTimeout. Dead voters go only while they are a minority of
// the voters, so the survivors always keep a quorum of the old
// configuration and the new one.
func (r *reconciler) removeDead(now time.Time, cfg raft.Configuration, alive map[raft.ServerID]Member, self raft.ServerID) error {
	n := r.n
	var deadVoters, deadOthers []raft.Server
	voters := 0
	for _, s := range cfg.Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
		if s.ID == self {
			continue
		}
		if _, ok := alive[s.ID]; ok {
			delete(r.goneSince, s.ID)
			continue
		}
		since, seen := r.goneSince[s.ID]
		if !seen {
			r.goneSince[s.ID] = now
			continue
		}
		if now.Sub(since) < n.cfg.DeadServerTimeout {
			continue
		}
		if s.Suffrage == raft.Voter {
			deadVoters = append(deadVoters, s)
		} else {
			deadOthers = append(deadOthers, s)
		}
	}
	for _, s := range deadOthers {
		n.log.Warn("removing a non-voter gone from gossip", "node_id", string(s.ID), "gone_for", now.Sub(r.goneSince[s.ID]).Round(time.Second))
		if err := n.raft.RemoveServer(s.ID, 0, 0).Error(); err != nil {
			return err
		}
		delete(r.goneSince, s.ID)
	}
	if len(deadVoters) == 0 {
		return nil
	}
	if 2*len(deadVoters) >= voters {
		n.log.Error("a majority of voters is gone; not removing any automatically (see the README on losing a majority)",
			"dead_voters", len(deadVoters), "voters", voters)
		return nil
	}
	for _, s := range deadVoters {
		n.log.Warn("removing a voter gone from gossip", "node_id", string(s.ID), "gone_for", now.Sub(r.goneSince[s.ID]).Round(time.Second))
		if err := n.raft.RemoveServer(s.ID, 0, 0).Error(); err != nil {
			return err
		}
		delete(r.goneSince, s.ID)
	}
	return nil
}
