package cluster

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tensorgate/tensorgate/fsm"
)

// logVersions raises the cluster's log version (see fsm/version.go) and
// keeps builds that cannot apply it out, on the leader's reconcile pass:
//
//   - the version rises, by a TypeLogVersion command, to the lowest one
//     every raft server announces in gossip; a server gossip does not show
//     (down, cut off, an older build that announces none) holds it back;
//   - a new member whose build applies less than the cluster's version is
//     not added: it would apply the log differently and drift apart;
//   - a node whose build applies less than the cluster already does says
//     so loudly: it must be upgraded before it can be trusted.
type logVersions struct {
	n *Node
	// warned holds the members already warned about, so a refused member
	// is logged once, not every pass.
	warned map[raft.ServerID]int
	// tooOld is true once this node logged that its own build is behind.
	tooOld bool
}

// buildLogVersion is the highest log version this node's build applies.
func (n *Node) buildLogVersion() int {
	if n.cfg.logVersion != nil {
		return *n.cfg.logVersion
	}
	return fsm.LogVersion
}

// clusterLogVersion is the log version the replicated state is at.
func (n *Node) clusterLogVersion() int { return n.fsm.View().Meta.LogVersion }

// checkSelf warns once if the cluster applies a newer log version than
// this build knows.
func (v *logVersions) checkSelf() {
	cur, mine := v.n.clusterLogVersion(), v.n.buildLogVersion()
	if cur > mine && !v.tooOld {
		v.tooOld = true
		v.n.log.Error("the cluster runs a newer log version than this build applies: upgrade this node to the cluster's build",
			"cluster_log_version", cur, "build_log_version", mine)
	}
}

// admits reports whether a member gossip shows may be added to raft.
func (v *logVersions) admits(id raft.ServerID, m Member) bool {
	cur := v.n.clusterLogVersion()
	if m.LogVersion >= cur {
		delete(v.warned, id)
		return true
	}
	if v.warned[id] != m.LogVersion+1 {
		v.warned[id] = m.LogVersion + 1
		v.n.log.Warn("not adding a member whose build is older than the cluster's log version: upgrade it",
			"node_id", string(id), "member_log_version", m.LogVersion, "cluster_log_version", cur)
	}
	return false
}

// aloneLoop does, on a node that runs without gossip (its own cluster),
// what the reconciler does for the log version: once it leads, it raises
// the version to its build's. Raft servers it cannot see in gossip (a
// configuration from before it ran alone) hold the version back.
func (n *Node) aloneLoop() {
	defer n.wg.Done()
	v := logVersions{n: n, warned: map[raft.ServerID]int{}}
	t := time.NewTicker(n.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		v.checkSelf()
		if n.raft.State() != raft.Leader || n.clusterLogVersion() >= n.buildLogVersion() {
			continue
		}
		fut := n.raft.GetConfiguration()
		if fut.Error() != nil {
			continue
		}
		if err := v.raise(fut.Configuration(), nil); err != nil {
			n.log.Warn("raise the cluster's log version", "err", err)
		}
	}
}

// raise proposes the lowest log version every server announces, if it is
// above the cluster's.
func (v *logVersions) raise(cfg raft.Configuration, alive map[raft.ServerID]Member) error {
	n := v.n
	low := n.buildLogVersion()
	for _, s := range cfg.Servers {
		if string(s.ID) == n.cfg.NodeID {
			continue
		}
		m, ok := alive[s.ID]
		if !ok {
			return nil // unknown build: wait until it shows
		}
		low = min(low, m.LogVersion)
	}
	if low <= n.clusterLogVersion() {
		return nil
	}
	c := fsm.Command{Type: fsm.TypeLogVersion, Body: fsm.LogVersionBody{Version: low}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := fsm.Propose[fsm.NoResult](ctx, n, c); err != nil {
		return err
	}
	n.log.Info("raised the cluster's log version: every server applies it", "log_version", low)
	return nil
}
