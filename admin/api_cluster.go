package admin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/cluster"
)

// getCluster answers the contract's {"leader","members":[...]}.
func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) error {
	members, err := s.d.Cluster.Members(r.Context())
	if err != nil {
		return err
	}
	if members == nil {
		members = []cluster.MemberInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"leader": s.d.Cluster.Leader(), "members": members})
	return nil
}

// removeMember removes a node from the cluster for good.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	err := s.d.Cluster.Remove(r.Context(), id)
	switch {
	case errors.Is(err, cluster.ErrUnknownMember):
		return notFoundErr("no cluster member " + id)
	case errors.Is(err, cluster.ErrLastMember):
		return &apiError{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict", Message: "the last voter cannot be removed"}
	case err != nil:
		return err
	}
	s.log.Warn("cluster member removed", "removed_node", id, "user_id", principalFrom(r.Context()).user.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type transferRequest struct {
	NodeID string `json:"node_id"`
	// Timeout bounds the retries ("30s"); default 10s.
	Timeout string `json:"timeout"`
}

// transferLeader hands leadership to node_id, or to a voter raft picks
// when the body is empty.
func (s *Server) transferLeader(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	var req transferRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	timeout := cluster.DefaultTransferTimeout
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 || d > 10*time.Minute {
			return badRequest("timeout", `timeout: a duration like "30s", at most 10m`)
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	err := s.d.Cluster.TransferLeader(ctx, req.NodeID)
	switch {
	case errors.Is(err, cluster.ErrUnknownMember):
		return badRequest("node_id", "node_id: no cluster member "+req.NodeID)
	case errors.Is(err, cluster.ErrTransferTimeout):
		return &apiError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "transfer_timeout",
			Message: "leadership did not move within " + timeout.String() + "; the leader is still " + s.d.Cluster.Leader() + ". Retry, or raise timeout", Err: err}
	case errors.Is(err, cluster.ErrNoOtherVoter):
		return &apiError{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict", Message: "there is no other voter to hand leadership to"}
	case errors.Is(err, cluster.ErrNotVoter):
		return badRequest("node_id", "node_id: "+req.NodeID+" is not a voter")
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"leader": s.d.Cluster.Leader()})
	return nil
}

// stepDown hands leadership away if this node leads: the hook a node's
// own supervisor calls before stopping it (a Kubernetes preStop). It takes
// no credential, so it answers only callers on the node itself.
func (s *Server) stepDown(w http.ResponseWriter, r *http.Request) error {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() || r.Header.Get("X-Forwarded-For") != "" {
		return forbidden("step-down is only taken from the node itself (loopback)")
	}
	st := s.d.Cluster.Status()
	if st.State != "Leader" {
		writeJSON(w, http.StatusOK, map[string]any{"transferred": false, "leader": st.Leader})
		return nil
	}
	// Retried until leadership has moved and this node knows its
	// successor, within cluster.DefaultTransferTimeout.
	err = s.d.Cluster.TransferLeader(r.Context(), "")
	if errors.Is(err, cluster.ErrNoOtherVoter) {
		writeJSON(w, http.StatusOK, map[string]any{"transferred": false, "leader": st.Leader})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"transferred": true, "leader": s.d.Cluster.Leader()})
	return nil
}
