package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tensorgate/tensorgate/admin"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/storage/diskguard"
	"github.com/tensorgate/tensorgate/storage/greptime"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// lookupEnv finds an environment variable: os.LookupEnv in the binary, a
// map in tests.
type lookupEnv func(name string) (string, bool)

// mapEnv looks variables up in m.
func mapEnv(m map[string]string) lookupEnv {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

// get returns the variable's value, or "" when it is unset.
func (env lookupEnv) get(name string) string {
	v, _ := env(name)
	return v
}

// or returns the variable's value, or def when it is unset or empty.
func (env lookupEnv) or(name, def string) string {
	if v := env.get(name); v != "" {
		return v
	}
	return def
}

// Config is everything `tensorgate serve` reads from its flags and the
// environment. parseConfig is the only place that reads them; the node
// reads nothing else.
type Config struct {
	HTTPAddr          string
	DataDir           string
	NodeID            string
	RaftAddr          string
	GossipAddr        string
	Join              string
	BootstrapExpect   int
	HTTPAdvertise     string
	TLS               cluster.TLSFiles
	ClusterSecret     string // TENSORGATE_CLUSTER_SECRET
	HeartbeatTimeout  time.Duration
	ElectionTimeout   time.Duration
	DeadServerTimeout time.Duration
	LogLevel          string
	LogFormat         string
	ShutdownTimeout   time.Duration
	DrainDelay        time.Duration
	// Gateway is the data plane's config, complete: NodeID, ImageDir
	// (IMAGE_DATA_DIR), UploadDir, SystemKeys and RedactFields are filled
	// in by parseConfig. The image-link keys are derived by the node.
	Gateway         gateway.Config
	RedactFields    string
	RetentionDays   int
	OutboxMaxBytes  int64
	DiskReserve     int64
	QuotaLeaseTTL   time.Duration
	QuotaWait       time.Duration
	AlertWebhookURL string
	AlertSecret     string

	AdminEmail         string            // ONPREM_ADMIN_EMAIL
	AdminPassword      string            // ONPREM_ADMIN_PASSWORD
	OrgName            string            // ONPREM_ORG_NAME
	AuthSecret         string            // BETTER_AUTH_SECRET
	PreviousAuthSecret string            // BETTER_AUTH_SECRET_PREVIOUS
	SystemKeys         map[string]string // DASHSCOPE_API_KEY, DEEPSEEK_API_KEY
	// DatabaseURL (DATABASE_URL) enables the Postgres sink.
	DatabaseURL string
	// GreptimeInfluxURL (GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL) enables the
	// GreptimeDB usage sink; GreptimeRemoteWriteURL
	// (GREPTIMEDB_REMOTE_WRITE_UPSTREAM_URL) pushes the node's metrics.
	GreptimeInfluxURL      string
	GreptimeRemoteWriteURL string
}

// defaultConfig is the config of a node started with no flags: :3000 (or
// :$PORT), ./data, the host name as its id.
func defaultConfig(env lookupEnv) Config {
	httpAddr := ":3000"
	if p := env.get("PORT"); p != "" {
		httpAddr = ":" + p
	}
	host, _ := os.Hostname()
	return Config{
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

// parseConfig reads every flag in args and every variable in env into one
// Config and validates it. Flags win over their TENSORGATE_* variables.
func parseConfig(args []string, env lookupEnv, stderr io.Writer) (Config, error) {
	c := defaultConfig(env)
	fs := c.flagSet(stderr)
	if err := parseFlags(fs, args, env); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	c.readEnv(env)
	c.fill()
	return c, c.Validate()
}

// flagSet declares the serve flags over c's fields.
func (c *Config) flagSet(stderr io.Writer) *flag.FlagSet {
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
	fs.DurationVar(&c.Gateway.MaxStale, "max-stale", c.Gateway.MaxStale, "a node cut off from the leader longer than this answers every /v1 call 503, so a key revoked elsewhere stops working on it within this bound (0: serve known keys for as long as the partition lasts)")
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
	return fs
}

// readEnv reads the variables that have no flag: the seed deployment's
// .env (CONTRACT.md) and the cluster secret.
func (c *Config) readEnv(env lookupEnv) {
	c.AdminEmail = env.or("ONPREM_ADMIN_EMAIL", admin.DefaultAdminEmail)
	c.AdminPassword = env.or("ONPREM_ADMIN_PASSWORD", admin.DefaultAdminPassword)
	c.OrgName = env.or("ONPREM_ORG_NAME", admin.DefaultOrgName)
	c.AuthSecret = env.or("BETTER_AUTH_SECRET", admin.SeedAuthSecret)
	c.PreviousAuthSecret = env.get("BETTER_AUTH_SECRET_PREVIOUS")
	c.ClusterSecret = env.get("TENSORGATE_CLUSTER_SECRET")
	c.DatabaseURL = env.get("DATABASE_URL")
	c.GreptimeInfluxURL = env.get("GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL")
	c.GreptimeRemoteWriteURL = env.get("GREPTIMEDB_REMOTE_WRITE_UPSTREAM_URL")
	c.SystemKeys = map[string]string{}
	for _, p := range admin.PreloadedProviders() {
		if v := env.get(p.KeyEnv); v != "" {
			c.SystemKeys[p.KeyEnv] = v
		}
	}
	// Images answered as links are kept under IMAGE_DATA_DIR (the seed's
	// variable), by default next to the node's data.
	c.Gateway.ImageDir = env.get("IMAGE_DATA_DIR")
}

// fill derives the settings that follow from others.
func (c *Config) fill() {
	if c.Gateway.ImageDir == "" {
		c.Gateway.ImageDir = filepath.Join(c.DataDir, "images")
	}
	// Uploads spool next to the node's data, removed as soon as their
	// request ends.
	c.Gateway.UploadDir = filepath.Join(c.DataDir, "uploads")
	c.Gateway.NodeID = c.NodeID
	c.Gateway.SystemKeys = c.SystemKeys
	// Fails only for a secret too short, which Validate reports by name.
	c.Gateway.ImageURLKey, c.Gateway.ImageURLOldKeys, _ = imageLinkKeys(c.AuthSecret)
	c.Gateway.RedactFields = nil
	for _, f := range strings.Split(c.RedactFields, ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.Gateway.RedactFields = append(c.Gateway.RedactFields, f)
		}
	}
}

// Validate reports the first problem with c, naming the flag or variable
// that set it.
func (c *Config) Validate() error {
	for _, check := range []func() error{c.validateNode, c.validateCluster, c.validateGateway, c.validateLimits, c.validateEnv} {
		if err := check(); err != nil {
			return err
		}
	}
	// The gateway and the cluster own their rules (the checks above name
	// the flags of the simple ones); the rest are refused here, before
	// anything opens.
	if err := c.Gateway.Validate(); err != nil {
		return err
	}
	cc := c.clusterConfig()
	return cc.Validate()
}

func (c *Config) validateNode() error {
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
	if c.BootstrapExpect < 0 {
		return fmt.Errorf("--bootstrap-expect %d: must be 0 or more", c.BootstrapExpect)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("--shutdown-timeout %v: must not be negative", c.ShutdownTimeout)
	}
	if c.DrainDelay < 0 {
		return fmt.Errorf("--drain-delay %v: must not be negative", c.DrainDelay)
	}
	return nil
}

// validateCluster names the flag of what the cluster would refuse.
func (c *Config) validateCluster() error {
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		return fmt.Errorf("--raft-addr %q: %w", c.RaftAddr, err)
	}
	if c.GossipAddr != "" {
		if _, _, err := net.SplitHostPort(c.GossipAddr); err != nil {
			return fmt.Errorf("--gossip-addr %q: %w", c.GossipAddr, err)
		}
	}
	for name, d := range map[string]time.Duration{"--raft-heartbeat-timeout": c.HeartbeatTimeout,
		"--raft-election-timeout": c.ElectionTimeout, "--dead-server-timeout": c.DeadServerTimeout} {
		if d <= 0 {
			return fmt.Errorf("%s %v: must be positive", name, d)
		}
	}
	return nil
}

// validateGateway names the flag of what the gateway would refuse.
func (c *Config) validateGateway() error {
	g := &c.Gateway
	for name, n := range map[string]int64{"--max-request-bytes": g.MaxBodyBytes, "--max-upload-bytes": g.MaxUploadBytes} {
		if n <= 0 {
			return fmt.Errorf("%s %d: must be positive", name, n)
		}
	}
	if g.MaxAttempts < 1 {
		return fmt.Errorf("--max-attempts %d: must be at least 1", g.MaxAttempts)
	}
	if g.AuditBodyBytes < 0 {
		return fmt.Errorf("--audit-body-bytes %d: must be 0 (keep none) or more", g.AuditBodyBytes)
	}
	switch g.OutboxFullPolicy {
	case "", gateway.OutboxDropBodies, gateway.OutboxReject: // "" is the default
	default:
		return fmt.Errorf("--outbox-full-policy %q: must be %s or %s", g.OutboxFullPolicy, gateway.OutboxDropBodies, gateway.OutboxReject)
	}
	for name, d := range map[string]time.Duration{"--upstream-first-byte-timeout": g.FirstByteTimeout, "--upstream-idle-timeout": g.IdleTimeout,
		"--upstream-response-timeout": g.ResponseTimeout, "--failover-window": g.FailoverWindow, "--image-url-ttl": g.ImageURLTTL} {
		if d <= 0 {
			return fmt.Errorf("%s %v: must be positive", name, d)
		}
	}
	if g.MaxStale < 0 {
		return fmt.Errorf("--max-stale %v: must be 0 (no bound) or positive", g.MaxStale)
	}
	if g.PublicURL != "" && !isHTTPURL(g.PublicURL) {
		return fmt.Errorf("--public-url %q: must be an http or https URL", g.PublicURL)
	}
	return nil
}

func (c *Config) validateLimits() error {
	if c.RetentionDays < 0 {
		return fmt.Errorf("--audit-retention-days %d: must be 0 (keep forever) or more", c.RetentionDays)
	}
	if c.QuotaLeaseTTL < time.Second || c.QuotaLeaseTTL > fsm.MaxLeaseTTL {
		return fmt.Errorf("--quota-lease-ttl %v: must be from 1s to %v", c.QuotaLeaseTTL, fsm.MaxLeaseTTL)
	}
	if c.QuotaWait <= 0 || c.QuotaWait > 10*time.Second {
		return fmt.Errorf("--quota-wait %v: must be positive and at most 10s", c.QuotaWait)
	}
	if c.AlertWebhookURL != "" && !isHTTPURL(c.AlertWebhookURL) {
		return fmt.Errorf("--alert-webhook-url %q: must be an http or https URL", c.AlertWebhookURL)
	}
	if c.OutboxMaxBytes < 1<<20 {
		return fmt.Errorf("--outbox-max-bytes %d: must be at least 1 MiB", c.OutboxMaxBytes)
	}
	if c.DiskReserve < minDiskReserve {
		return fmt.Errorf("--disk-reserve %s: must be at least %s, the room the outbox needs to start a new memtable and flush the last",
			diskguard.FormatSize(c.DiskReserve), diskguard.FormatSize(minDiskReserve))
	}
	return nil
}

// validateEnv checks the variables that have no flag. Values that may
// hold credentials are never repeated in an error.
func (c *Config) validateEnv() error {
	if len(c.AuthSecret) < secret.MinSecretLen {
		return fmt.Errorf("BETTER_AUTH_SECRET: must be at least %d characters", secret.MinSecretLen)
	}
	if c.PreviousAuthSecret != "" && len(c.PreviousAuthSecret) < secret.MinSecretLen {
		return fmt.Errorf("BETTER_AUTH_SECRET_PREVIOUS: must be at least %d characters", secret.MinSecretLen)
	}
	if err := validateDatabaseURL(c.DatabaseURL); err != nil {
		return err
	}
	if c.GreptimeInfluxURL != "" {
		if _, err := greptime.New(c.GreptimeInfluxURL, nil); err != nil {
			return err
		}
	}
	if c.GreptimeRemoteWriteURL != "" && !isHTTPURL(c.GreptimeRemoteWriteURL) {
		return errors.New("GREPTIMEDB_REMOTE_WRITE_UPSTREAM_URL: must be an http or https URL")
	}
	return nil
}

// validateDatabaseURL checks DATABASE_URL the way the Postgres sink will
// read it (a postgres:// URL or a key=value DSN); empty is valid.
func validateDatabaseURL(dsn string) error {
	if dsn == "" {
		return nil
	}
	if _, err := pgxpool.ParseConfig(dsn); err != nil {
		// pgx's message repeats the string with the password redacted
		// as well as it can; ours does not repeat it at all.
		return errors.New("DATABASE_URL: not a Postgres URL (postgres://user:password@host:5432/db) or key=value DSN")
	}
	return nil
}

// isHTTPURL reports whether s is an absolute http or https URL.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// clusterConfig is the cluster's part of c; the node adds its logger,
// registry and disk guard.
func (c *Config) clusterConfig() cluster.Config {
	cc := cluster.DefaultConfig()
	cc.NodeID, cc.DataDir, cc.RaftAddr = c.NodeID, c.DataDir, c.RaftAddr
	cc.GossipAddr, cc.BootstrapExpect, cc.ClusterSecret, cc.TLS = c.GossipAddr, c.BootstrapExpect, c.ClusterSecret, c.TLS
	cc.HTTPAddr, cc.Version = c.advertisedHTTP(), version
	cc.HeartbeatTimeout, cc.ElectionTimeout, cc.DeadServerTimeout = c.HeartbeatTimeout, c.ElectionTimeout, c.DeadServerTimeout
	cc.LeaderLeaseTimeout = min(cc.LeaderLeaseTimeout, c.HeartbeatTimeout)
	for _, a := range strings.Split(c.Join, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cc.Join = append(cc.Join, a)
		}
	}
	return cc
}

// advertisedHTTP is the HTTP address peers list for this node.
func (c *Config) advertisedHTTP() string {
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
