package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/diskguard"
)

// RPC methods between nodes.
const (
	rpcApply    = "apply"    // commit a command on the leader
	rpcStatus   = "status"   // report raft state
	rpcLeave    = "leave"    // the node was removed: leave gossip and stop raft
	rpcTransfer = "transfer" // hand leadership over (leader only)
	rpcRemove   = "remove"   // remove a member from raft (leader only)
	// rpcReadIndex confirms leadership with a quorum and answers the
	// index a linearizable read must wait for (leader only).
	rpcReadIndex = "readindex"
)

// unknownMethod starts the answer to a method the peer does not know.
const unknownMethod = "unknown method "

type rpcRequest struct {
	Method  string `json:"method"`
	Command []byte `json:"command,omitempty"`
	// Target of a leadership transfer; empty lets raft choose.
	TargetID string `json:"target_id,omitempty"`
}

type rpcResponse struct {
	Index  uint64          `json:"index,omitempty"`
	Type   fsm.MessageType `json:"type,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Status *Status         `json:"status,omitempty"`
	Err    *rpcError       `json:"error,omitempty"`
	// Clock is the answering node's wall clock when it answered (read
	// index and status), for the asker's clock offset estimate.
	Clock time.Time `json:"clock,omitzero"`
}

// rpcError carries an error across the wire with enough shape to rebuild
// the sentinel or *fsm.Error the caller expects.
type rpcError struct {
	Kind  string        `json:"kind"` // fsm, not_leader, timeout, shutdown, other
	Code  fsm.ErrorCode `json:"code,omitempty"`
	Field string        `json:"field,omitempty"`
	Msg   string        `json:"msg"`
}

func toRPCError(err error) *rpcError {
	var fe *fsm.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return &rpcError{Kind: "fsm", Code: fe.Code, Field: fe.Field, Msg: fe.Msg}
	case errors.Is(err, ErrNotLeader):
		return &rpcError{Kind: "not_leader", Msg: err.Error()}
	case errors.Is(err, ErrTimeout):
		return &rpcError{Kind: "timeout", Msg: err.Error()}
	case errors.Is(err, ErrShutdown):
		return &rpcError{Kind: "shutdown", Msg: err.Error()}
	case errors.Is(err, diskguard.ErrFull):
		return &rpcError{Kind: "disk_full", Msg: err.Error()}
	case errors.Is(err, ErrUnknownMember):
		return &rpcError{Kind: "unknown_member", Msg: err.Error()}
	case errors.Is(err, ErrNotVoter):
		return &rpcError{Kind: "not_voter", Msg: err.Error()}
	}
	return &rpcError{Kind: "other", Msg: err.Error()}
}

func (e *rpcError) toError() error {
	switch e.Kind {
	case "fsm":
		return &fsm.Error{Code: e.Code, Field: e.Field, Msg: e.Msg}
	case "not_leader":
		return ErrNotLeader
	case "timeout":
		return ErrTimeout
	case "shutdown":
		// The peer is going away; to the caller that is "no leader now".
		return ErrNotLeader
	case "disk_full":
		return fmt.Errorf("the leader %w", &leaderFull{msg: e.Msg})
	case "unknown_member":
		return fmt.Errorf("%w (the leader says: %s)", ErrUnknownMember, e.Msg)
	case "not_voter":
		return fmt.Errorf("%w (the leader says: %s)", ErrNotVoter, e.Msg)
	}
	return errors.New(e.Msg)
}

// serveRPC answers node-to-node calls until the listener closes.
func (n *Node) serveRPC(ln net.Listener) {
	defer n.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(n.cfg.ApplyTimeout + 5*time.Second))
			var req rpcRequest
			if err := json.NewDecoder(c).Decode(&req); err != nil {
				return
			}
			resp := n.handleRPC(req)
			_ = json.NewEncoder(c).Encode(resp)
		}()
	}
}

func (n *Node) handleRPC(req rpcRequest) rpcResponse {
	switch req.Method {
	case rpcApply:
		typ := fsm.MessageType(0)
		if len(req.Command) > 0 {
			typ = fsm.MessageType(req.Command[0])
		}
		idx, res, err := n.applyLocal(context.Background(), req.Command)
		if err != nil {
			return rpcResponse{Err: toRPCError(err)}
		}
		enc, err := fsm.EncodeResult(res)
		if err != nil {
			return rpcResponse{Err: toRPCError(err)}
		}
		return rpcResponse{Index: idx, Type: typ, Result: enc}
	case rpcReadIndex:
		if n.raft.State() != raft.Leader {
			return rpcResponse{Err: toRPCError(ErrNotLeader)}
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
		defer cancel()
		idx, err := n.verifiedIndex(ctx)
		if err != nil {
			return rpcResponse{Err: toRPCError(err)}
		}
		return rpcResponse{Index: idx, Clock: time.Now()}
	case rpcStatus:
		st := n.Status()
		return rpcResponse{Status: &st, Clock: time.Now()}
	case rpcLeave:
		n.spawn(n.removedFromCluster)
		return rpcResponse{}
	case rpcTransfer:
		return rpcResponse{Err: toRPCError(n.transferLocal(req.TargetID))}
	case rpcRemove:
		if n.raft.State() != raft.Leader {
			return rpcResponse{Err: toRPCError(ErrNotLeader)}
		}
		n.evict(raft.ServerID(req.TargetID))
		return rpcResponse{Err: toRPCError(n.raft.RemoveServer(raft.ServerID(req.TargetID), 0, 0).Error())}
	}
	return rpcResponse{Err: &rpcError{Kind: "other", Msg: unknownMethod + req.Method}}
}

// call performs one RPC against the node at a raft address.
func (n *Node) call(ctx context.Context, addr string, req rpcRequest) (rpcResponse, error) {
	timeout := 5 * time.Second
	c, err := n.auth.dial(addr, connRPC, timeout)
	if err != nil {
		return rpcResponse{}, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	deadline := time.Now().Add(n.cfg.ApplyTimeout + 5*time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return rpcResponse{}, fmt.Errorf("send %s to %s: %w", req.Method, addr, err)
	}
	var resp rpcResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return rpcResponse{}, fmt.Errorf("read %s answer from %s: %w", req.Method, addr, err)
	}
	return resp, nil
}

// statusOf asks a peer for its raft status.
func (n *Node) statusOf(ctx context.Context, addr raft.ServerAddress) (Status, error) {
	sent := time.Now()
	resp, err := n.call(ctx, string(addr), rpcRequest{Method: rpcStatus})
	if err != nil {
		return Status{}, err
	}
	if leader, _ := n.raft.LeaderWithID(); leader == addr && resp.Status != nil && resp.Status.State == "Leader" {
		n.noteClock(sent, time.Now(), resp.Clock)
	}
	if resp.Err != nil {
		return Status{}, resp.Err.toError()
	}
	if resp.Status == nil {
		return Status{}, errors.New("cluster: empty status answer")
	}
	return *resp.Status, nil
}
