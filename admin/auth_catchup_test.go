package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
)

// notCaughtUp is a node that has not caught up with the cluster since it
// started.
type notCaughtUp struct {
	Cluster
	ready bool
}

func (c notCaughtUp) Ready() bool { return c.ready }

// TestSessionUnknownWhileCatchingUpIs503: a ?stale read on a node whose
// state does not hold the session's user yet (restarted, replaying)
// answers 503 with Retry-After, not a 401 that signs the user out; once
// the node has caught up an unknown session is a 401.
func TestSessionUnknownWhileCatchingUpIs503(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		ready bool
		want  int
	}{{false, http.StatusServiceUnavailable}, {true, http.StatusUnauthorized}} {
		deps := e.api.d
		deps.Viewer = fsm.New() // the restarted node's state: empty
		deps.Cluster = notCaughtUp{Cluster: e.node, ready: tc.ready}
		s, err := New(Config{Version: "test"}, deps)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/api/admin/orgs?stale", nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.want || (tc.want == 503 && rec.Header().Get("Retry-After") == "") {
			t.Fatalf("ready=%v: %d (Retry-After %q) %s, want %d", tc.ready, rec.Code, rec.Header().Get("Retry-After"), rec.Body, tc.want)
		}
	}
}
