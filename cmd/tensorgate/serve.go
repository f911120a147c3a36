package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/tensorgate/tensorgate/admin"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/alert"
	"github.com/tensorgate/tensorgate/gateway/quota"
	"github.com/tensorgate/tensorgate/storage/diskguard"
	"github.com/tensorgate/tensorgate/storage/outbox"
	"github.com/tensorgate/tensorgate/storage/pgsink"
	"github.com/tensorgate/tensorgate/storage/promwrite"
)

// serveConfig is everything `tensorgate serve` reads from flags and env.
type serveConfig struct {
	HTTPAddr          string
	DataDir           string
	NodeID            string
	RaftAddr          string
	GossipAddr        string
	Join              string
	BootstrapExpect   int
	HTTPAdvertise     string
	TLS               cluster.TLSFiles
	ClusterSecret     string
	HeartbeatTimeout  time.Duration
	ElectionTimeout   time.Duration
	DeadServerTimeout time.Duration
	LogLevel          string
	LogFormat         string
	ShutdownTimeout   time.Duration
	DrainDelay        time.Duration
	Gateway           gateway.Config
	RedactFields      string
	RetentionDays     int
	OutboxMaxBytes    int64
	DiskReserve       int64
	QuotaLeaseTTL     time.Duration
	QuotaWait         time.Duration
	AlertWebhookURL   string
	AlertSecret       string

	AdminEmail    string
	AdminPassword string
	OrgName       string
	AuthSecret    string
	SystemKeys    map[string]string
}

func defaultServeConfig() serveConfig {
	httpAddr := ":3000"
	if p := os.Getenv("PORT"); p != "" {
		httpAddr = ":" + p
	}
	host, _ := os.Hostname()
	return serveConfig{
		HTTPAddr:          httpAddr,
		DataDir:           "./data",
		NodeID:            host,
		RaftAddr:          "127.0.0.1:7000",
		GossipAddr:        "127.0.0.1:7946",
		HeartbeatTimeout:  cluster.DefaultConfig().HeartbeatTimeout,
		ElectionTimeout:   cluster.DefaultConfig().ElectionTimeout,
		DeadServerTimeout: cluster.DefaultConfig().DeadServerTimeout,
		LogLevel:          "info",
		LogFormat:         "text",
		ShutdownTimeout:   30 * time.Second,
		Gateway:           gateway.DefaultConfig(),
		RetentionDays:     90,
		OutboxMaxBytes:    4 << 30,
		DiskReserve:       256 << 20,
		QuotaLeaseTTL:     10 * time.Second,
		QuotaWait:         250 * time.Millisecond,
	}
}

func (c *serveConfig) validate() error {
	if c.NodeID == "" {
		return errors.New("--node-id is required (the host name was empty)")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("--http-addr %q: %w", c.HTTPAddr, err)
	}
	if c.DataDir == "" {
		return errors.New("--data-dir is required")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: must be debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: must be text or json", c.LogFormat)
	}
	if c.RetentionDays < 0 {
		return fmt.Errorf("--audit-retention-days %d: must be 0 (keep forever) or more", c.RetentionDays)
	}
	if c.QuotaLeaseTTL < time.Second || c.QuotaLeaseTTL > fsm.MaxLeaseTTL {
		return fmt.Errorf("--quota-lease-ttl %v: must be from 1s to %v", c.QuotaLeaseTTL, fsm.MaxLeaseTTL)
	}
	if c.QuotaWait <= 0 || c.QuotaWait > 10*time.Second {
		return fmt.Errorf("--quota-wait %v: must be positive and at most 10s", c.QuotaWait)
	}
	if c.AlertWebhookURL != "" {
		if u, err := url.Parse(c.AlertWebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--alert-webhook-url %q: must be an http or https URL", c.AlertWebhookURL)
		}
	}
	if c.OutboxMaxBytes < 1<<20 {
		return fmt.Errorf("--outbox-max-bytes %d: must be at least 1 MiB", c.OutboxMaxBytes)
	}
	if c.DiskReserve < minDiskReserve {
		return fmt.Errorf("--disk-reserve %s: must be at least %s, the room the outbox needs to start a new memtable and flush the last",
			diskguard.FormatSize(c.DiskReserve), diskguard.FormatSize(minDiskReserve))
	}
	return c.Gateway.Validate()
}

func parseServe(args []string, stderr io.Writer) (serveConfig, error) {
	c := defaultServeConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "data plane, admin API and console address")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "raft log, snapshots and outbox")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "stable, unique node id")
	fs.StringVar(&c.RaftAddr, "raft-addr", c.RaftAddr, "raft and node-to-node RPC address, advertised to peers")
	fs.StringVar(&c.GossipAddr, "gossip-addr", c.GossipAddr, "memberlist bind and advertise address")
	fs.StringVar(&c.Join, "join", c.Join, "comma-separated gossip addresses of live members")
	fs.IntVar(&c.BootstrapExpect, "bootstrap-expect", c.BootstrapExpect, "wait for N servers, then bootstrap them together")
	fs.StringVar(&c.HTTPAdvertise, "http-advertise", c.HTTPAdvertise, "HTTP address peers and operators use to reach this node (default: the raft host with the HTTP port)")
	fs.StringVar(&c.TLS.Cert, "tls-cert", "", "PEM certificate for raft and node-to-node RPC (mutual TLS)")
	fs.StringVar(&c.TLS.Key, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&c.TLS.CA, "tls-ca", "", "PEM CA that signs every node's certificate")
	fs.DurationVar(&c.HeartbeatTimeout, "raft-heartbeat-timeout", c.HeartbeatTimeout, "raft heartbeat timeout (raise it for cross-zone links)")
	fs.DurationVar(&c.ElectionTimeout, "raft-election-timeout", c.ElectionTimeout, "raft election timeout")
	fs.DurationVar(&c.DeadServerTimeout, "dead-server-timeout", c.DeadServerTimeout, "how long a member may be gone before the leader removes it from raft")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long to drain requests on SIGTERM")
	fs.DurationVar(&c.DrainDelay, "drain-delay", c.DrainDelay, "on SIGTERM, answer health checks with 503 this long before refusing new connections, so load balancers move away first")
	fs.Int64Var(&c.Gateway.MaxBodyBytes, "max-request-bytes", c.Gateway.MaxBodyBytes, "largest /v1 JSON request body accepted (413 beyond)")
	fs.Int64Var(&c.Gateway.MaxUploadBytes, "max-upload-bytes", c.Gateway.MaxUploadBytes, "largest multipart upload (image edits, transcriptions) accepted (413 beyond); spooled to disk, not memory")
	fs.IntVar(&c.Gateway.MaxAttempts, "max-attempts", c.Gateway.MaxAttempts, "upstream targets tried per request before giving up")
	fs.DurationVar(&c.Gateway.FirstByteTimeout, "upstream-first-byte-timeout", c.Gateway.FirstByteTimeout, "longest wait for a stream's first byte")
	fs.DurationVar(&c.Gateway.IdleTimeout, "upstream-idle-timeout", c.Gateway.IdleTimeout, "longest gap between two chunks of an upstream answer")
	fs.DurationVar(&c.Gateway.ResponseTimeout, "upstream-response-timeout", c.Gateway.ResponseTimeout, "longest wait for a non-streaming answer")
	fs.Func("max-capability-bytes", "per-capability body limits overriding the two above, e.g. asr=52428800,tts=65536", func(v string) error {
		limits, err := parseSizeLimits(v)
		c.Gateway.CapabilityMaxBytes = limits
		return err
	})
	fs.DurationVar(&c.Gateway.ImageURLTTL, "image-url-ttl", c.Gateway.ImageURLTTL, "life of the signed links to generated images the gateway keeps (IMAGE_DATA_DIR); the files go with them")
	fs.StringVar(&c.Gateway.PublicURL, "public-url", "", "scheme and host clients reach the gateway by, for the links it hands out (default: the request's Host)")
	fs.DurationVar(&c.Gateway.FailoverWindow, "failover-window", c.Gateway.FailoverWindow, "no new upstream attempt starts this long after a request arrived")
	fs.IntVar(&c.Gateway.AuditBodyBytes, "audit-body-bytes", c.Gateway.AuditBodyBytes, "bytes of each request and response body kept in the audit record (0 keeps none)")
	fs.StringVar(&c.RedactFields, "audit-redact-fields", "", "comma-separated JSON fields whose values are never stored, besides api_key, password, token and the like")
	fs.IntVar(&c.RetentionDays, "audit-retention-days", c.RetentionDays, "days of audit events kept in Postgres; older day partitions are dropped (0 keeps all)")
	fs.Int64Var(&c.OutboxMaxBytes, "outbox-max-bytes", c.OutboxMaxBytes, "unshipped events the outbox holds before the outbox-full policy applies")
	fs.Var(byteSize{&c.DiskReserve}, "disk-reserve", "free space kept on the data dir's disk (and IMAGE_DATA_DIR's): below it the node takes no new work (503 storage_full) until space is freed; bytes or 256MiB, 1GiB")
	fs.StringVar(&c.Gateway.OutboxFullPolicy, "outbox-full-policy", c.Gateway.OutboxFullPolicy, "when the outbox is full: drop-bodies (keep serving, store events without bodies) or reject (answer 503)")
	fs.StringVar(&c.AlertWebhookURL, "alert-webhook-url", "", "system webhook that receives every alert (breakers, budgets, limit bursts, lost nodes) as a signed JSON POST")
	fs.StringVar(&c.AlertSecret, "alert-webhook-secret", "", "HMAC-SHA256 key that signs the system webhook's alerts (prefer TENSORGATE_ALERT_WEBHOOK_SECRET)")
	fs.DurationVar(&c.QuotaLeaseTTL, "quota-lease-ttl", c.QuotaLeaseTTL, "life of a node's lease on a limit's capacity; a dead node's share comes back after it")
	fs.DurationVar(&c.QuotaWait, "quota-wait", c.QuotaWait, "longest a request waits for a lease when its node's share of a limit is empty but the cluster has room")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: tensorgate serve [flags]\n\nEvery flag can also be set as TENSORGATE_<FLAG_IN_UPPER_SNAKE>.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	c.AdminEmail = envOr("ONPREM_ADMIN_EMAIL", admin.DefaultAdminEmail)
	c.AdminPassword = envOr("ONPREM_ADMIN_PASSWORD", admin.DefaultAdminPassword)
	c.OrgName = envOr("ONPREM_ORG_NAME", admin.DefaultOrgName)
	c.AuthSecret = envOr("BETTER_AUTH_SECRET", admin.SeedAuthSecret)
	c.ClusterSecret = os.Getenv("TENSORGATE_CLUSTER_SECRET")
	c.SystemKeys = map[string]string{}
	for _, p := range admin.PreloadedProviders() {
		if v := os.Getenv(p.KeyEnv); v != "" {
			c.SystemKeys[p.KeyEnv] = v
		}
	}
	c.Gateway.SystemKeys = c.SystemKeys
	for _, f := range strings.Split(c.RedactFields, ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.Gateway.RedactFields = append(c.Gateway.RedactFields, f)
		}
	}
	return c, c.validate()
}

func newLogger(c serveConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	lg := newLogger(c, stderr).With("node_id", c.NodeID)
	lg.Info("starting tensorgate", "version", version, "http_addr", c.HTTPAddr, "data_dir", c.DataDir)
	if c.AuthSecret == admin.SeedAuthSecret {
		lg.Warn("BETTER_AUTH_SECRET is the seed default; set your own before storing real provider keys")
	}
	keyring, err := admin.NewKeyring(c.AuthSecret, os.Getenv("BETTER_AUTH_SECRET_PREVIOUS"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// Images answered as links are kept under IMAGE_DATA_DIR (the seed's
	// variable), signed with a key derived from BETTER_AUTH_SECRET so
	// every node checks every node's links.
	c.Gateway.ImageDir = os.Getenv("IMAGE_DATA_DIR")
	if c.Gateway.ImageDir == "" {
		c.Gateway.ImageDir = filepath.Join(c.DataDir, "images")
	}
	if err := os.MkdirAll(c.Gateway.ImageDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", c.Gateway.ImageDir, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	disk, err := diskguard.New(diskguard.Config{Dirs: []string{c.DataDir, c.Gateway.ImageDir}, Reserve: c.DiskReserve, Logger: lg})
	if err != nil {
		return err
	}
	reg.MustRegister(disk)
	dctx, stopDisk := context.WithCancel(context.Background())
	defer stopDisk()
	go disk.Run(dctx)

	// HTTP opens before the storage does, so a node that cannot open it
	// yet (a full disk) still says why in its health and metrics.
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.HTTPAddr, err)
	}
	var handler swapHandler
	handler.set(admin.WaitingHandler(c.NodeID, version, disk, reg))
	srv := &http.Server{
		Handler:           &handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(lg.With("component", "http").Handler(), slog.LevelWarn),
	}
	defer srv.Close()
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	lg.Info("listening", "http_addr", ln.Addr().String())
	if disk.Full() {
		lg.Warn("not opening storage until the disk has room: opening writes, and a full disk would crash the stores", "reserve", diskguard.FormatSize(c.DiskReserve))
	}
	if err := disk.WaitRoom(ctx); err != nil {
		lg.Info("shutting down")
		return nil
	}

	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		// The data plane never waits on Postgres: a failed migration is
		// reported, and the node serves on.
		mctx, cancel := context.WithTimeout(ctx, time.Minute)
		if _, err := pgsink.Migrate(mctx, dsn, lg); err != nil {
			lg.Error("could not migrate the Postgres database; run tensorgate migrate", "err", err)
		}
		cancel()
	}

	f := fsm.New()
	ccfg := cluster.DefaultConfig()
	ccfg.NodeID, ccfg.DataDir, ccfg.RaftAddr = c.NodeID, c.DataDir, c.RaftAddr
	ccfg.GossipAddr, ccfg.BootstrapExpect, ccfg.ClusterSecret, ccfg.TLS = c.GossipAddr, c.BootstrapExpect, c.ClusterSecret, c.TLS
	ccfg.HTTPAddr, ccfg.Version = c.advertisedHTTP(), version
	ccfg.HeartbeatTimeout, ccfg.ElectionTimeout, ccfg.DeadServerTimeout = c.HeartbeatTimeout, c.ElectionTimeout, c.DeadServerTimeout
	ccfg.LeaderLeaseTimeout = min(ccfg.LeaderLeaseTimeout, c.HeartbeatTimeout)
	if c.Join != "" {
		for _, a := range strings.Split(c.Join, ",") {
			if a = strings.TrimSpace(a); a != "" {
				ccfg.Join = append(ccfg.Join, a)
			}
		}
	}
	ccfg.Logger, ccfg.Registry, ccfg.Space = lg, reg, disk
	node, err := cluster.New(ccfg, f)
	if err != nil {
		return err
	}
	defer func() {
		if err := node.Shutdown(); err != nil {
			lg.Error("raft shutdown", "err", err)
		}
	}()

	events, err := outbox.Open(filepath.Join(c.DataDir, "outbox"), outbox.Options{Logger: lg, MaxBytes: c.OutboxMaxBytes, Space: disk})
	if err != nil {
		return err
	}
	defer func() {
		if err := events.Close(); err != nil {
			lg.Error("close outbox", "err", err)
		}
	}()
	reg.MustRegister(events)
	usage, stopSinks, err := startSinks(c, events, node, f, lg)
	if err != nil {
		return err
	}
	defer stopSinks()
	c.Gateway.NodeID = c.NodeID
	// Uploads spool next to the node's data, removed as soon as their
	// request ends; a crash can leave some, swept here.
	c.Gateway.UploadDir = filepath.Join(c.DataDir, "uploads")
	imageKey := sha256.Sum256([]byte("tensorgate image links v1\x00" + c.AuthSecret))
	c.Gateway.ImageURLKey = imageKey[:]
	if err := os.RemoveAll(c.Gateway.UploadDir); err != nil {
		return fmt.Errorf("clear %s: %w", c.Gateway.UploadDir, err)
	}
	if err := os.MkdirAll(c.Gateway.UploadDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", c.Gateway.UploadDir, err)
	}
	alerts := alert.New(alert.Config{Node: c.NodeID, System: alert.Target{URL: c.AlertWebhookURL, Secret: []byte(c.AlertSecret)},
		Logger: lg, Registry: reg})
	defer alerts.Close()
	watcher := &alert.Watcher{Sender: alerts, State: f, Unsealer: keyring}
	limits := quota.New(quota.Config{Node: c.NodeID, TTL: c.QuotaLeaseTTL, Wait: c.QuotaWait, State: f, OnRefuse: watcher.Refused,
		Record: gateway.SpendRecord{Log: events}, Ready: node.Ready, Logger: lg}, node)
	reg.MustRegister(limits)
	qctx, stopQuota := context.WithCancel(context.Background())
	defer stopQuota()
	go limits.Run(qctx)
	go watcher.Run(qctx, clusterAlerts{node}, 5*time.Second)
	gw, err := gateway.New(c.Gateway, gateway.Deps{State: f, Unsealer: keyring, Recorder: events, Limiter: limits, Notifier: node, Alerter: watcher, Peers: node, Barrier: node,
		Freshness: node, Space: disk, Registry: reg, Logger: lg, Now: time.Now})
	if err != nil {
		return err
	}
	adm, err := admin.New(admin.Config{SystemKeys: c.SystemKeys, Version: version, SystemWebhook: c.AlertWebhookURL != ""},
		admin.Deps{Applier: node, Viewer: f, Cluster: node, Keyring: keyring, Gatherer: reg, Usage: usage,
			Breakers: breakerLister(gw), Alerts: alertLister(alerts), Disk: disk, Tester: gw, Logger: lg, Now: time.Now})
	if err != nil {
		return err
	}
	go gw.SweepImages(qctx, 10*time.Minute)
	if u := os.Getenv("GREPTIMEDB_REMOTE_WRITE_UPSTREAM_URL"); u != "" {
		// Metrics go to GreptimeDB by remote write: no scraper needed.
		pusher := &promwrite.Pusher{URL: u, Gatherer: reg, Labels: map[string]string{"instance": c.NodeID, "job": "tensorgate"}, Logger: lg}
		go pusher.Run(qctx)
	}
	router := chi.NewRouter()
	adm.Register(router)
	gw.Register(router)
	handler.set(router)
	lg.Info("serving", "http_addr", ln.Addr().String())

	bootErr := make(chan error, 1)
	go func() {
		bootErr <- bootstrapState(ctx, node, f, c, lg)
	}()

	select {
	case <-ctx.Done():
		lg.Info("shutting down")
	case err := <-srvErr:
		return fmt.Errorf("http server: %w", err)
	case err := <-bootErr:
		if err != nil {
			_ = srv.Close()
			return err
		}
		select {
		case <-ctx.Done():
			lg.Info("shutting down")
		case err := <-srvErr:
			return fmt.Errorf("http server: %w", err)
		}
	}
	adm.Draining()
	if node.IsLeader() {
		// Hand leadership over before going, so the cluster does not wait
		// out an election timeout for a node that is leaving on purpose.
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := node.TransferLeader(tctx, ""); err != nil {
			lg.Warn("could not hand leadership over before stopping", "err", err)
		}
		cancel()
	}
	if c.DrainDelay > 0 {
		lg.Info("draining: health answers 503 before connections close", "drain_delay", c.DrainDelay)
		time.Sleep(c.DrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		lg.Warn("http drain incomplete", "err", err)
	}
	return nil
}

// bootstrapState makes sure the replicated state has its first org, admin
// and providers. Every node tries once a leader exists, forwarding to it;
// the fsm applies the first bootstrap and ignores the rest, so it does not
// matter which node wins or whether the cluster was bootstrapped long ago.
func bootstrapState(ctx context.Context, node *cluster.Node, f *fsm.FSM, c serveConfig, lg *slog.Logger) error {
	for !f.View().Bootstrapped() {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := node.WaitForLeader(wctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			lg.Info("waiting for a raft leader before the first start completes", "err", err)
			continue
		}
		if f.View().Bootstrapped() {
			return nil
		}
		applied, err := admin.Bootstrap(ctx, node, f, admin.BootstrapConfig{
			AdminEmail: c.AdminEmail, AdminPassword: c.AdminPassword, OrgName: c.OrgName,
		})
		if errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrShutdown) {
			continue
		}
		if err != nil {
			return err
		}
		if applied {
			lg.Info("created the first org and super admin", "org", c.OrgName, "admin_email", c.AdminEmail)
			if c.AdminPassword == admin.DefaultAdminPassword {
				lg.Warn("the super admin uses the seed's default password; change it after signing in")
			}
		}
	}
	return nil
}

// advertisedHTTP is the HTTP address peers list for this node.
func (c *serveConfig) advertisedHTTP() string {
	if c.HTTPAdvertise != "" {
		return c.HTTPAdvertise
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return c.HTTPAddr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		if rh, _, err := net.SplitHostPort(c.RaftAddr); err == nil {
			host = rh
		}
	}
	return net.JoinHostPort(host, port)
}

// parseSizeLimits reads "capability=bytes,..." (the capabilities are
// checked by the gateway's config).
func parseSizeLimits(v string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		k, n, ok := strings.Cut(part, "=")
		size, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if !ok || err != nil || size <= 0 {
			return nil, fmt.Errorf("%q: want capability=bytes", part)
		}
		out[strings.TrimSpace(k)] = size
	}
	return out, nil
}
