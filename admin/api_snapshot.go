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

// restoreSnapshot replaces the whole replicated state with a backup
// (ops.RestoreSnapshot).
func (s *Server) restoreSnapshot(w http.ResponseWriter, r *http.Request) error {
	st, err := s.ops.RestoreSnapshot(r.Context(), principalFrom(r.Context()).caller(), func() ([]byte, error) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSnapshot))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
					Message: fmt.Sprintf("snapshot exceeds %d bytes", maxSnapshot)}
			}
			return nil, badRequest("", "could not read the snapshot")
		}
		return b, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"restored":  true,
		"orgs":      len(st.Orgs),
		"users":     len(st.Users),
		"keys":      st.KeyCount(),
		"providers": len(st.Providers),
	})
	return nil
}
