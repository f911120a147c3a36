package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/tensorgate/tensorgate/admin"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/alert"
	"github.com/tensorgate/tensorgate/gateway/httpguard"
	"github.com/tensorgate/tensorgate/gateway/quota"
	"github.com/tensorgate/tensorgate/storage/diskguard"
	"github.com/tensorgate/tensorgate/storage/outbox"
	"github.com/tensorgate/tensorgate/storage/pgsink"
	"github.com/tensorgate/tensorgate/storage/promwrite"
)

// Node is one running gateway node: its storage, cluster membership, data
// plane, admin API and the background tasks between them.
//
// Every background task runs in one of three stages, each an errgroup
// that Stop cancels and waits for in turn, so nothing accepted is lost:
//
//   - front: what serves or changes state (bootstrap, quota leases, alert
//     watch, image sweep, metrics push). Stopped after the HTTP server
//     has drained, so in-flight requests still get their leases.
//   - ship: the outbox shippers (one of which applies usage to the
//     cluster). Stopped after front, before the cluster and the outbox
//     close, so every event a request appended stays in the outbox or
//     has been shipped.
//   - base: the HTTP server and the disk guard, which run from the first
//     moment to the last.
//
// A task that fails (the HTTP server, the first bootstrap) ends the node:
// Failed is closed and Stop returns its error.
type Node struct {
	cfg Config
	lg  *slog.Logger
	reg *prometheus.Registry

	handler swapHandler
	srv     *http.Server
	addr    net.Addr
	disk    *diskguard.Guard
	state   *fsm.FSM
	cluster *cluster.Node
	events  *outbox.Outbox
	sinks   *sinks
	alerts  *alert.Sender
	adm     *admin.Server
	serving bool // the router is in place

	base, ship, front *stage

	failOnce sync.Once
	failed   chan struct{}
	failErr  error

	stopOnce sync.Once
	stopErr  error
}

// NewNode returns a node for a validated config; Start starts it.
func NewNode(c Config, lg *slog.Logger) *Node {
	n := &Node{cfg: c, lg: lg, failed: make(chan struct{})}
	n.base, n.ship, n.front = n.newStage("base"), n.newStage("ship"), n.newStage("front")
	return n
}

// Start opens the node and returns once it serves. The HTTP listener
// opens first, so a node that cannot open its storage yet (a full disk)
// says why in its health and metrics; if ctx ends while it waits for
// room, Start returns nil with only that much started. On an error Start
// has stopped whatever it started.
func (n *Node) Start(ctx context.Context) error {
	if err := n.start(ctx); err != nil {
		n.fail(err)
		_ = n.Stop()
		return err
	}
	return nil
}

func (n *Node) start(ctx context.Context) error {
	c := &n.cfg
	n.lg.Info("starting tensorgate", "version", version, "http_addr", c.HTTPAddr, "data_dir", c.DataDir)
	if c.AuthSecret == admin.SeedAuthSecret {
		n.lg.Warn("BETTER_AUTH_SECRET is the seed default; set your own before storing real provider keys")
	}
	keyring, err := admin.NewKeyring(c.AuthSecret, c.PreviousAuthSecret)
	if err != nil {
		return err
	}
	if err := n.makeDirs(); err != nil {
		return err
	}
	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if n.disk, err = diskguard.New(diskguard.Config{Dirs: []string{c.DataDir, c.Gateway.ImageDir}, Reserve: c.DiskReserve, Logger: n.lg}); err != nil {
		return err
	}
	n.reg.MustRegister(n.disk)
	n.base.run("disk guard", func(ctx context.Context) error { n.disk.Run(ctx); return nil })
	if err := n.listen(); err != nil {
		return err
	}
	if n.disk.Full() {
		n.lg.Warn("not opening storage until the disk has room: opening writes, and a full disk would crash the stores", "reserve", diskguard.FormatSize(c.DiskReserve))
	}
	if err := n.disk.WaitRoom(ctx); err != nil {
		return nil // stopped while waiting: nothing more to start
	}
	n.migrate(ctx)
	if err := n.openStorage(); err != nil {
		return err
	}
	if err := n.startServices(keyring); err != nil {
		return err
	}
	n.front.run("bootstrap", func(ctx context.Context) error { return bootstrapState(ctx, n.cluster, n.state, n.cfg, n.lg) })
	return nil
}

// makeDirs creates the data and image dirs, and empties the upload spool
// (uploads are removed as soon as their request ends; a crash can leave
// some).
func (n *Node) makeDirs() error {
	c := &n.cfg
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := os.MkdirAll(c.Gateway.ImageDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", c.Gateway.ImageDir, err)
	}
	if err := os.RemoveAll(c.Gateway.UploadDir); err != nil {
		return fmt.Errorf("clear %s: %w", c.Gateway.UploadDir, err)
	}
	if err := os.MkdirAll(c.Gateway.UploadDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", c.Gateway.UploadDir, err)
	}
	return nil
}

// listen opens the HTTP listener with a handler that answers health and
// metrics until the router is in place.
func (n *Node) listen() error {
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", n.cfg.HTTPAddr, err)
	}
	n.addr = ln.Addr()
	n.handler.set(admin.WaitingHandler(n.cfg.NodeID, version, n.disk, n.reg))
	n.srv = &http.Server{
		Handler:           httpguard.Wrap(&n.handler, httpguard.DefaultConfig()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.lg.With("component", "http").Handler(), slog.LevelWarn),
	}
	n.base.run("http server", func(context.Context) error {
		if err := n.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	n.lg.Info("listening", "http_addr", n.addr.String())
	return nil
}

// migrate brings the Postgres schema up to date. The data plane never
// waits on Postgres: a failed migration is reported, and the node serves
// on.
func (n *Node) migrate(ctx context.Context) {
	if n.cfg.DatabaseURL == "" {
		return
	}
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := pgsink.Migrate(mctx, n.cfg.DatabaseURL, n.lg); err != nil {
		n.lg.Error("could not migrate the Postgres database; run tensorgate migrate", "err", err)
	}
}

// openStorage opens the replicated state, the outbox and the sinks, and
// starts shipping.
func (n *Node) openStorage() error {
	n.state = fsm.New()
	cc := n.cfg.clusterConfig()
	cc.Logger, cc.Registry, cc.Space = n.lg, n.reg, n.disk
	var err error
	if n.cluster, err = cluster.New(cc, n.state); err != nil {
		return err
	}
	if n.events, err = outbox.Open(filepath.Join(n.cfg.DataDir, "outbox"), outbox.Options{Logger: n.lg, MaxBytes: n.cfg.OutboxMaxBytes, Space: n.disk}); err != nil {
		return err
	}
	n.reg.MustRegister(n.events)
	if n.sinks, err = openSinks(n.cfg, n.events, n.cluster, n.state, n.lg); err != nil {
		return err
	}
	n.sinks.run(n.events, n.lg, n.ship.run)
	return nil
}

// startServices wires the data plane and the admin API over the storage,
// starts their background tasks and puts their router in place.
func (n *Node) startServices(keyring *admin.Keyring) error {
	c := &n.cfg
	n.alerts = alert.New(alert.Config{Node: c.NodeID, System: alert.Target{URL: c.AlertWebhookURL, Secret: []byte(c.AlertSecret)},
		Logger: n.lg, Registry: n.reg})
	watcher := &alert.Watcher{Sender: n.alerts, State: n.state, Unsealer: keyring}
	limits := quota.New(quota.Config{Node: c.NodeID, TTL: c.QuotaLeaseTTL, Wait: c.QuotaWait, State: n.state, OnRefuse: watcher.Refused,
		Record: gateway.SpendRecord{Log: n.events}, Ready: n.cluster.Ready, Logger: n.lg}, n.cluster)
	n.reg.MustRegister(limits)
	gw, err := gateway.New(c.Gateway, gateway.Deps{State: n.state, Unsealer: keyring, Recorder: n.events, Limiter: limits,
		Notifier: n.cluster, Alerter: watcher, Peers: n.cluster, Barrier: n.cluster, Freshness: n.cluster, Space: n.disk,
		Registry: n.reg, Logger: n.lg, Now: time.Now})
	if err != nil {
		return err
	}
	if n.adm, err = n.newAdmin(keyring, gw); err != nil {
		return err
	}
	n.front.run("quota leases", func(ctx context.Context) error { limits.Run(ctx); return nil })
	n.front.run("alert watch", func(ctx context.Context) error { watcher.Run(ctx, clusterAlerts{n.cluster}, 5*time.Second); return nil })
	n.front.run("image sweep", func(ctx context.Context) error { gw.SweepImages(ctx, 10*time.Minute); return nil })
	if u := c.GreptimeRemoteWriteURL; u != "" {
		// Metrics go to GreptimeDB by remote write: no scraper needed.
		pusher := &promwrite.Pusher{URL: u, Gatherer: n.reg, Labels: map[string]string{"instance": c.NodeID, "job": "tensorgate"}, Logger: n.lg}
		n.front.run("metrics push", func(ctx context.Context) error { pusher.Run(ctx); return nil })
	}
	router := chi.NewRouter()
	n.adm.Register(router)
	gw.Register(router)
	n.handler.set(router)
	n.serving = true
	n.lg.Info("serving", "http_addr", n.addr.String())
	return nil
}

// newAdmin builds the admin API and console: the one place cmd calls
// admin.New, so what admin needs from the rest of the node is wired here.
func (n *Node) newAdmin(keyring *admin.Keyring, gw *gateway.Server) (*admin.Server, error) {
	c := &n.cfg
	return admin.New(admin.Config{SystemKeys: c.SystemKeys, Version: version, SystemWebhook: c.AlertWebhookURL != ""},
		admin.Deps{Applier: n.cluster, Viewer: n.state, Cluster: n.cluster, Keyring: keyring, Gatherer: n.reg, Usage: n.sinks.store,
			Breakers: breakerLister(gw), Alerts: alertLister(n.alerts), Disk: n.disk, Tester: gw, Logger: n.lg, Now: time.Now})
}

// Addr is the HTTP listener's address (nil before Start opened it).
func (n *Node) Addr() net.Addr { return n.addr }

// Failed is closed when a task the node cannot run without has failed;
// Stop then returns why.
func (n *Node) Failed() <-chan struct{} { return n.failed }

func (n *Node) fail(err error) {
	n.failOnce.Do(func() {
		n.failErr = err
		close(n.failed)
	})
}

// Stop drains and stops the node, in an order that loses nothing
// accepted, and waits for every background task. It returns the error
// that ended the node, if one did; what goes wrong while stopping is
// logged. Stop may be called more than once.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() { n.stopErr = n.stop() })
	return n.stopErr
}

func (n *Node) stop() error {
	n.drain()
	if n.srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
		if err := n.srv.Shutdown(sctx); err != nil {
			n.lg.Warn("http drain incomplete", "err", err)
			_ = n.srv.Close()
		}
		cancel()
		// Close does not wait for handlers. Those it cut off see their
		// request's context end; let them record what they answered
		// before the outbox closes.
		if !n.handler.wait(handlerGrace) {
			n.lg.Error("requests still running after the HTTP server closed; their events may be lost", "grace", handlerGrace)
		}
	}
	n.front.stop()
	n.ship.stop()
	if n.sinks != nil {
		n.sinks.close()
	}
	if n.alerts != nil {
		n.alerts.Close()
	}
	if n.cluster != nil {
		if err := n.cluster.Shutdown(); err != nil {
			n.lg.Error("raft shutdown", "err", err)
		}
	}
	// The outbox closes last: the cluster and every shipper are done
	// with it.
	if n.events != nil {
		if err := n.events.Close(); err != nil {
			n.lg.Error("close outbox", "err", err)
		}
	}
	n.base.stop()
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}

// drain tells load balancers and the cluster that a healthy node is
// leaving: health answers 503, leadership moves away, and the drain delay
// passes before connections are refused. A node that failed skips it.
func (n *Node) drain() {
	select {
	case <-n.failed:
		return
	default:
	}
	if !n.serving {
		return
	}
	n.adm.Draining()
	if n.cluster.IsLeader() {
		// Hand leadership over before going, so the cluster does not wait
		// out an election timeout for a node that is leaving on purpose.
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.cluster.TransferLeader(tctx, ""); err != nil {
			n.lg.Warn("could not hand leadership over before stopping", "err", err)
		}
		cancel()
	}
	if d := n.cfg.DrainDelay; d > 0 {
		n.lg.Info("draining: health answers 503 before connections close", "drain_delay", d)
		time.Sleep(d)
	}
}

// handlerGrace is how long Stop waits for handlers still running after a
// forced close of the HTTP server.
const handlerGrace = 10 * time.Second

// stage is a group of background tasks that stop together: stop cancels
// their context and waits for every one.
type stage struct {
	n      *Node
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	g      errgroup.Group
}

func (n *Node) newStage(name string) *stage {
	ctx, cancel := context.WithCancel(context.Background())
	return &stage{n: n, name: name, ctx: ctx, cancel: cancel}
}

// run starts f in the stage. An error from f ends the node.
func (s *stage) run(task string, f func(context.Context) error) {
	s.g.Go(func() error {
		err := f(s.ctx)
		if err != nil {
			// Stop returns the first, and serve reports it.
			err = fmt.Errorf("%s: %w", task, err)
			s.n.fail(err)
		}
		return err
	})
}

func (s *stage) stop() {
	s.cancel()
	_ = s.g.Wait() // each error was reported when its task ended
}

// swapHandler serves through whichever handler was set last: the node
// starts with a waiting handler and swaps in its router once its storage
// is open. It counts the requests in its handlers, so the node can wait
// for those a forced close cut off before closing what they write to.
type swapHandler struct {
	h atomic.Pointer[http.Handler]

	mu      sync.Mutex
	running int
	idle    chan struct{} // closed when running drops to 0; nil while idle
}

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.running == 0 {
		s.idle = make(chan struct{})
	}
	s.running++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.running--; s.running == 0 {
			close(s.idle)
			s.idle = nil
		}
		s.mu.Unlock()
	}()
	(*s.h.Load()).ServeHTTP(w, r)
}

// wait returns once no request is in a handler, or false when timeout
// passes first.
func (s *swapHandler) wait(timeout time.Duration) bool {
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	if idle == nil {
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}
