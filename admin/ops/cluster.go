package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tensorgate/tensorgate/cluster"
)

// Membership changes the cluster's members (cluster.Node).
type Membership interface {
	Remove(ctx context.Context, id string) error
	TransferLeader(ctx context.Context, id string) error
	Leader() string
}

// RemoveMember removes a node from the cluster for good (super admins
// only).
func (o *Ops) RemoveMember(ctx context.Context, c Caller, id string) error {
	o.begin(MemberRemove)
	if err := c.RequireSuper(); err != nil {
		return err
	}
	if o.d.Membership == nil {
		return errors.New("ops: no cluster membership is wired in")
	}
	err := o.d.Membership.Remove(ctx, id)
	switch {
	case errors.Is(err, cluster.ErrUnknownMember):
		return NotFound("no cluster member " + id)
	case errors.Is(err, cluster.ErrLastMember):
		return &Error{Kind: KindConflict, Message: "the last voter cannot be removed"}
	case err != nil:
		return err
	}
	o.log.Warn("cluster member removed", "removed_node", id, "user_id", c.userID())
	return nil
}

// Transfer asks for leadership to move.
type Transfer struct {
	// NodeID is the voter to hand leadership to; empty lets raft pick.
	NodeID string
	// Timeout bounds the retries ("30s"); empty means
	// cluster.DefaultTransferTimeout.
	Timeout string
}

// TransferLeader hands leadership to another voter (super admins only)
// and answers the new leader.
func (o *Ops) TransferLeader(ctx context.Context, c Caller, in Input[Transfer]) (string, error) {
	o.begin(LeaderTransfer)
	if err := c.RequireSuper(); err != nil {
		return "", err
	}
	req, err := in()
	if err != nil {
		return "", err
	}
	timeout := cluster.DefaultTransferTimeout
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 || d > 10*time.Minute {
			return "", Invalid("timeout", `timeout: a duration like "30s", at most 10m`)
		}
		timeout = d
	}
	if o.d.Membership == nil {
		return "", errors.New("ops: no cluster membership is wired in")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = o.d.Membership.TransferLeader(ctx, req.NodeID)
	switch {
	case errors.Is(err, cluster.ErrUnknownMember):
		return "", Invalid("node_id", "node_id: no cluster member "+req.NodeID)
	case errors.Is(err, cluster.ErrTransferTimeout):
		return "", &Error{Kind: KindUnavailable, Code: "transfer_timeout", Err: err,
			Message: "leadership did not move within " + timeout.String() + "; the leader is still " + o.d.Membership.Leader() + ". Retry, or raise timeout"}
	case errors.Is(err, cluster.ErrNoOtherVoter):
		return "", &Error{Kind: KindConflict, Message: "there is no other voter to hand leadership to"}
	case errors.Is(err, cluster.ErrNotVoter):
		return "", Invalid("node_id", "node_id: "+req.NodeID+" is not a voter")
	case err != nil:
		return "", fmt.Errorf("transfer leadership: %w", err)
	}
	leader := o.d.Membership.Leader()
	o.log.Warn("leadership transferred", "to", req.NodeID, "leader", leader, "user_id", c.userID())
	return leader, nil
}
