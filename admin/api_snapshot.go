package admin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/tensorgate/tensorgate/fsm"
)

// maxSnapshot bounds an uploaded snapshot; it travels as one raft entry.
const maxSnapshot = 64 << 20

// saveSnapshot streams a point-in-time backup of the replicated state. The
// state is an immutable view, so the backup is consistent without locks.
// Secrets in it stay sealed.
func (s *Server) saveSnapshot(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	var buf bytes.Buffer
	view := s.d.Viewer.View()
	if err := fsm.WriteSnapshot(&buf, view); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="tensorgate-%d.snap"`, view.Index))
	w.Header().Set("X-Tensorgate-Index", fmt.Sprint(view.Index))
	_, err := w.Write(buf.Bytes())
	return err
}

// restoreSnapshot replaces the whole replicated state with a backup, through
// raft, so every node restores the same state at the same log index.
func (s *Server) restoreSnapshot(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSnapshot))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
				Message: fmt.Sprintf("snapshot exceeds %d bytes", maxSnapshot)}
		}
		return badRequest("", "could not read the snapshot")
	}
	st, err := fsm.ReadSnapshot(bytes.NewReader(b))
	if err != nil {
		return badRequest("snapshot", err.Error())
	}
	if !st.Bootstrapped() {
		return badRequest("snapshot", "snapshot holds no bootstrapped state")
	}
	if _, err := s.propose(r.Context(), fsm.TypeRestoreState, fsm.RestoreBody{Snapshot: b}); err != nil {
		return err
	}
	s.log.Warn("replicated state restored from a snapshot", "orgs", len(st.Orgs), "keys", st.KeyCount(), "providers", len(st.Providers))
	writeJSON(w, http.StatusOK, map[string]any{
		"restored":  true,
		"orgs":      len(st.Orgs),
		"users":     len(st.Users),
		"keys":      st.KeyCount(),
		"providers": len(st.Providers),
	})
	return nil
}
