package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tensorgate/tensorgate/admin/console"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/fsm"
)

// ProviderTester makes a minimal real call to a provider through the data
// plane's own adapters (gateway.Server.TestProvider, wired in by cmd).
type ProviderTester = ops.ProviderTester

// Applier commits commands through raft.
type Applier interface {
	Apply(ctx context.Context, c fsm.Command) (any, error)
}

// Viewer reads the replicated state.
type Viewer interface {
	View() *fsm.State
}

// Statuser reports the node's raft state.
type Statuser interface {
	Status() cluster.Status
}

// Cluster is what the admin API needs for membership operations.
type Cluster interface {
	Statuser
	Members(ctx context.Context) ([]cluster.MemberInfo, error)
	Leader() string
	// Ready reports whether the node has caught up with the cluster since
	// it started (cluster.Node.Ready; the node checks on its own).
	Ready() bool
	// Barrier waits until this node has applied every write any node
	// acknowledged before the call (cluster.Node.Barrier).
	Barrier(ctx context.Context) error
	// Staleness says how stale the local state may be, for ?stale reads.
	Staleness() cluster.Staleness
	Remove(ctx context.Context, id string) error
	TransferLeader(ctx context.Context, id string) error
	Removed() bool
}

// Config configures the admin API.
type Config struct {
	// SystemKeys holds the provider keys from the node's environment, by
	// variable name (DASHSCOPE_API_KEY, ...), to report whether a preloaded
	// provider is usable. Values are never returned.
	SystemKeys map[string]string
	// SystemWebhook says a system alert webhook is configured.
	SystemWebhook bool
	// SecureCookies marks the session cookie Secure (when served over TLS).
	SecureCookies bool
	// Version is reported by /api/health.
	Version string
}

// Deps are the admin API's collaborators.
type Deps struct {
	Applier  Applier
	Viewer   Viewer
	Cluster  Cluster
	Keyring  *Keyring
	Gatherer prometheus.Gatherer
	// Usage answers the usage and audit endpoints.
	Usage UsageStore
	// Breakers lists the data plane's circuit breakers; nil lists none.
	Breakers func() []BreakerStatus
	// Alerts lists this node's recent alert deliveries; nil lists none.
	Alerts func() []AlertRecord
	// Disk reports the node's disk against its reserve; nil reports
	// nothing.
	Disk DiskStatus
	// Tester runs the console's provider connection test; nil refuses it.
	Tester ProviderTester
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// observe, in tests, is told every operation that begins.
	observe func(ops.Name)
}

// Server is the admin API.
type Server struct {
	ops      *ops.Ops
	auth     *web.Auth
	console  *console.Console
	cfg      Config
	d        Deps
	log      *slog.Logger
	draining atomic.Bool
}

// New returns the admin API server.
func New(cfg Config, d Deps) (*Server, error) {
	if d.Applier == nil || d.Viewer == nil || d.Cluster == nil || d.Keyring == nil || d.Usage == nil {
		return nil, errors.New("admin: applier, viewer, cluster and keyring are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Gatherer == nil {
		d.Gatherer = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, d: d, log: d.Logger.With("component", "admin")}
	s.auth = &web.Auth{Keyring: d.Keyring.Keyring, Viewer: d.Viewer, Ready: d.Cluster.Ready, Now: d.Now, SecureCookies: cfg.SecureCookies, Log: s.log}
	var err error
	s.ops, err = ops.New(ops.Deps{Applier: d.Applier, Viewer: d.Viewer, Sealer: d.Keyring, Tester: d.Tester, Membership: d.Cluster, Logger: d.Logger, Now: d.Now, Observe: d.observe})
	if err != nil {
		return nil, err
	}
	s.console, err = console.New(console.Config{Version: cfg.Version, SystemWebhook: cfg.SystemWebhook, DefaultOrgName: DefaultOrgName},
		console.Deps{Ops: s.ops, Auth: s.auth, Viewer: d.Viewer, Cluster: d.Cluster, Usage: d.Usage, API: consoleAPI{s}, Alerts: s.alerts, Logger: d.Logger, Now: d.Now})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// alerts lists this node's recent alert deliveries, read at each call.
func (s *Server) alerts() []AlertRecord {
	if s.d.Alerts == nil {
		return nil
	}
	return s.d.Alerts()
}

// handlerFunc is an HTTP handler that returns its error for one place to
// render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) wrap(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	}
}

// consistent is the read barrier (web.Consistent) over this node.
func (s *Server) consistent(fail func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler {
	return web.Consistent(s.d.Cluster, fail)
}

// apiFail renders a failed read barrier for the JSON API.
func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.log, err)
}

// Register mounts the admin routes on r.
func (s *Server) Register(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(s.requestID, s.recover)
		r.Get("/api/health", s.wrap(s.health))
		metrics := promhttp.HandlerFor(s.d.Gatherer, promhttp.HandlerOpts{})
		r.Handle("/api/metrics/prom", metrics)
		r.Handle("/metrics", metrics)

		r.Post("/api/cluster/step-down", s.wrap(s.stepDown))
		// Signing in reads users and their passwords: as current as any read.
		linear := s.consistent(s.apiFail)
		r.With(linear).Post("/api/auth/login", s.wrap(s.login))
		r.Post("/api/auth/logout", s.wrap(s.logout))
		r.With(linear, s.authenticate).Get("/api/auth/me", s.wrap(s.me))
		r.With(linear, s.authenticate).Post("/api/auth/password", s.wrap(s.changePassword))

		s.console.Register(r)
		r.Route("/api/admin", func(r chi.Router) {
			r.Use(s.consistent(s.apiFail), s.authenticate)
			r.Get("/orgs", s.wrap(s.listOrgs))
			r.Post("/orgs", s.wrap(s.createOrg))
			r.Get("/orgs/{id}", s.wrap(s.getOrg))
			r.Patch("/orgs/{id}", s.wrap(s.patchOrg))
			r.Delete("/orgs/{id}", s.wrap(s.deleteOrg))
			r.Get("/orgs/{id}/policy", s.wrap(s.getPolicy))
			r.Put("/orgs/{id}/policy", s.wrap(s.putPolicy))

			r.Get("/users", s.wrap(s.listUsers))
			r.Post("/users", s.wrap(s.createUser))
			r.Patch("/users/{id}", s.wrap(s.patchUser))
			r.Get("/keys", s.wrap(s.listKeys))
			r.Post("/keys", s.wrap(s.createKey))
			r.Get("/keys/{id}", s.wrap(s.getKey))
			r.Patch("/keys/{id}", s.wrap(s.patchKey))
			r.Delete("/keys/{id}", s.wrap(s.revokeKey))

			r.Get("/providers", s.wrap(s.listProviders))
			r.Post("/providers", s.wrap(s.createProvider))
			r.Get("/providers/{slug}", s.wrap(s.getProvider))
			r.Put("/providers/{slug}", s.wrap(s.putProvider))
			r.Delete("/providers/{slug}", s.wrap(s.deleteProvider))
			r.Post("/providers/{slug}/test", s.wrap(s.testProviderAPI))

			r.Get("/routes", s.wrap(s.listRoutes))
			r.Get("/routes/{model}", s.wrap(s.getRoute))
			r.Put("/routes/{model}", s.wrap(s.putRoute))
			r.Delete("/routes/{model}", s.wrap(s.deleteRoute))

			r.Get("/prices", s.wrap(s.listPrices))
			r.Get("/prices/{model}", s.wrap(s.getPrice))
			r.Put("/prices/{model}", s.wrap(s.putPrice))
			r.Delete("/prices/{model}", s.wrap(s.deletePrice))

			r.Get("/cluster", s.wrap(s.getCluster))
			r.Delete("/cluster/members/{id}", s.wrap(s.removeMember))
			r.Post("/cluster/transfer-leader", s.wrap(s.transferLeader))

			r.Get("/quotas", s.wrap(s.listQuotas))
			r.Get("/breakers", s.wrap(s.listBreakers))
			r.Get("/usage", s.wrap(s.usage))
			r.Get("/audit", s.wrap(s.audit))
			r.Get("/audit/{id}", s.wrap(s.auditEvent))

			r.Post("/secrets/reseal", s.wrap(s.reseal))
			r.Get("/snapshot", s.wrap(s.saveSnapshot))
			r.Post("/snapshot/restore", s.wrap(s.restoreSnapshot))
			r.NotFound(s.wrap(func(w http.ResponseWriter, r *http.Request) error {
				return notFoundErr("unknown endpoint " + r.Method + " " + r.URL.Path)
			}))
			r.MethodNotAllowed(s.wrap(func(w http.ResponseWriter, r *http.Request) error {
				return &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed",
					Message: r.Method + " is not allowed on " + r.URL.Path}
			}))
		})
	})
}

// Handler returns the admin API as a standalone handler.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	s.Register(r)
	return r
}

func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = "req_" + hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in admin handler", "path", r.URL.Path, "panic", v)
				writeError(w, r, s.log, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// list is the contract's list envelope.
type list[T any] struct {
	Data []T `json:"data"`
}

// Draining marks the node as shutting down: health answers 503 so load
// balancers stop sending new requests while in-flight ones finish.
func (s *Server) Draining() { s.draining.Store(true) }

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	st := s.d.Cluster.Status()
	view := s.d.Viewer.View()
	status, code := "ok", http.StatusOK
	switch {
	case s.d.Cluster.Removed():
		status, code = "removed", http.StatusServiceUnavailable
	case s.draining.Load():
		status, code = "draining", http.StatusServiceUnavailable
	case s.d.Disk != nil && s.d.Disk.Err() != nil:
		status, code = "disk_full", http.StatusServiceUnavailable
	case !view.Bootstrapped() || !s.d.Cluster.Ready():
		// The node has no state yet, or has not yet applied what the
		// cluster committed: it is starting, joining or replaying, and
		// would refuse keys that exist.
		status, code = "starting", http.StatusServiceUnavailable
	}
	body := map[string]any{
		"status":        status,
		"node_id":       st.NodeID,
		"leader":        st.Leader,
		"raft_state":    st.State,
		"term":          st.Term,
		"applied_index": st.AppliedIndex,
		"commit_index":  st.CommitIndex,
		"lag":           st.CommitIndex - min(st.CommitIndex, st.AppliedIndex),
		"version":       s.cfg.Version,
		// The cluster's log version and the highest this build applies
		// (a rolling upgrade raises the first once every node runs it).
		"log_version":       st.LogVersion,
		"build_log_version": st.BuildLogVersion,
	}
	addDisk(body, s.d.Disk)
	writeJSON(w, code, body)
	return nil
}
