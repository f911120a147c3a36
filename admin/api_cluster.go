package admin

import (
	"errors"
	"net"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/cluster"
)

// getCluster answers the contract's {"leader","members":[...]}.
func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) error {
	// Node addresses are the operators' business, not a tenant's.
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
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
	if err := s.ops.RemoveMember(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "id")); err != nil {
		return err
	}
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
	leader, err := s.ops.TransferLeader(r.Context(), principalFrom(r.Context()).caller(), func() (ops.Transfer, error) {
		var req transferRequest
		if r.ContentLength != 0 {
			if err := decodeJSON(w, r, &req); err != nil {
				return ops.Transfer{}, err
			}
		}
		return ops.Transfer(req), nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"leader": leader})
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
