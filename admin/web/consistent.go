package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tensorgate/tensorgate/cluster"
)

// Barrierer is the node's read barrier (cluster.Node).
type Barrierer interface {
	// Barrier waits until this node has applied every write any node
	// acknowledged before the call.
	Barrier(ctx context.Context) error
	// Staleness says how stale the local state may be, for ?stale reads.
	Staleness() cluster.Staleness
}

// ReadTimeout bounds how long an admin request waits to confirm that this
// node's state is current before it answers 503.
const ReadTimeout = 3 * time.Second

// Consistent makes every admin request linearizable unless it asks for
// ?stale: before the handler reads the local state, the node confirms
// with a quorum that it has applied every write any node acknowledged
// before the request began (a leader verifies it still leads; a follower
// waits for the index the leader confirmed). A node that cannot, within
// ReadTimeout (an election, a partition, a paused leader), answers 503
// with Retry-After through fail rather than from a state it cannot vouch
// for. ?stale answers from the local state at once, with headers telling
// how stale it may be.
func Consistent(c Barrierer, fail func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, stale := r.URL.Query()["stale"]; stale && r.Method == http.MethodGet {
				st := c.Staleness()
				h := w.Header()
				h.Set("X-Tensorgate-Last-Contact", strconv.FormatInt(st.LastContact.Milliseconds(), 10))
				h.Set("X-Tensorgate-Known-Leader", strconv.FormatBool(st.KnownLeader))
				h.Set("X-Tensorgate-Index", strconv.FormatUint(st.Index, 10))
				next.ServeHTTP(w, r)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), ReadTimeout)
			err := c.Barrier(ctx)
			cancel()
			if err != nil {
				fail(w, r, &APIError{
					Status: http.StatusServiceUnavailable, Type: "server_error", Code: "service_unavailable",
					Message: "this node cannot confirm with a quorum of the cluster that its state is current (an election, or it is cut off); " +
						"retry shortly, or add ?stale to a GET to read this node's possibly stale state",
					Err: err, RetryAfter: time.Second,
				})
				return
			}
			w.Header().Set("X-Tensorgate-Index", strconv.FormatUint(c.Staleness().Index, 10))
			next.ServeHTTP(w, r)
		})
	}
}
