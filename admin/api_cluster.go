package admin

import (
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
	err := s.d.Cluster.TransferLeader(r.Context(), req.NodeID)
	if errors.Is(err, cluster.ErrUnknownMember) {
		return badRequest("node_id", "node_id: no cluster member "+req.NodeID)
	}
	if err != nil {
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
	if err := s.d.Cluster.TransferLeader(r.Context(), ""); err != nil {
		return err
	}
	// Answer once this node has heard of its successor (bounded).
	leader := s.d.Cluster.Leader()
	for deadline := time.Now().Add(3 * time.Second); (leader == "" || leader == st.NodeID) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		leader = s.d.Cluster.Leader()
	}
	writeJSON(w, http.StatusOK, map[string]any{"transferred": true, "leader": leader})
	return nil
}
