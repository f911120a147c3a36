package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tensorgate/tensorgate/admin"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// `tensorgate serve` with no flags and no environment (make run) starts a
// node on :3000 with the seed's admin, org and secret (CONTRACT.md).
func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, mapEnv(nil), io.Discard)
	if err != nil {
		t.Fatalf("no flags, no env: %v", err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"--http-addr", c.HTTPAddr, ":3000"},
		{"--data-dir", c.DataDir, "./data"},
		{"--raft-addr", c.RaftAddr, "127.0.0.1:7000"},
		{"--gossip-addr", c.GossipAddr, "127.0.0.1:7946"},
		{"--join", c.Join, ""},
		{"ONPREM_ADMIN_EMAIL", c.AdminEmail, "admin@example.com"},
		{"ONPREM_ADMIN_PASSWORD", c.AdminPassword, "ai-gateway-admin-2026"},
		{"ONPREM_ORG_NAME", c.OrgName, "default-org"},
		{"BETTER_AUTH_SECRET", c.AuthSecret, admin.SeedAuthSecret},
		{"DATABASE_URL", c.DatabaseURL, ""},
		{"GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL", c.GreptimeInfluxURL, ""},
		{"TENSORGATE_CLUSTER_SECRET", c.ClusterSecret, ""},
		{"IMAGE_DATA_DIR", c.Gateway.ImageDir, filepath.Join("data", "images")},
		{"uploads", c.Gateway.UploadDir, filepath.Join("data", "uploads")},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if c.BootstrapExpect != 0 || c.ShutdownTimeout != 30*time.Second || c.QuotaLeaseTTL != 10*time.Second {
		t.Errorf("bootstrap-expect %d, shutdown-timeout %v, quota-lease-ttl %v", c.BootstrapExpect, c.ShutdownTimeout, c.QuotaLeaseTTL)
	}
	if c.NodeID == "" || c.Gateway.NodeID != c.NodeID {
		t.Errorf("node id %q, gateway's %q: want the host name in both", c.NodeID, c.Gateway.NodeID)
	}
	if len(c.Gateway.ImageURLKey) != 32 || len(c.Gateway.ImageURLOldKeys) != 1 {
		t.Errorf("image-link keys: %d-byte key, %d old", len(c.Gateway.ImageURLKey), len(c.Gateway.ImageURLOldKeys))
	}
}

// Flags win over their TENSORGATE_* variables; every other variable is
// read into the config, and nothing else reads the environment.
func TestParseConfigFlagsAndEnv(t *testing.T) {
	env := mapEnv(map[string]string{
		"PORT":                                 "8080",
		"TENSORGATE_NODE_ID":                   "from-env",
		"TENSORGATE_DATA_DIR":                  "/var/lib/tg",
		"TENSORGATE_JOIN":                      "10.0.0.1:7946, 10.0.0.2:7946",
		"TENSORGATE_CLUSTER_SECRET":            "cluster-secret-0123456789",
		"TENSORGATE_AUDIT_REDACT_FIELDS":       "ssn, card ,",
		"ONPREM_ADMIN_EMAIL":                   "root@corp.example",
		"ONPREM_ORG_NAME":                      "corp",
		"BETTER_AUTH_SECRET":                   "a-long-enough-secret-0123",
		"BETTER_AUTH_SECRET_PREVIOUS":          "the-old-long-secret-0123",
		"DATABASE_URL":                         "postgres://tg:pw@db:5432/tg?sslmode=disable",
		"GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL": "http://greptime:4000",
		"GREPTIMEDB_REMOTE_WRITE_UPSTREAM_URL": "http://greptime:4000/v1/prometheus/write",
		"IMAGE_DATA_DIR":                       "/srv/images",
		"DASHSCOPE_API_KEY":                    "sk-dash",
	})
	c, err := parseConfig([]string{"--node-id", "from-flag"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"http":       c.HTTPAddr,
		"node":       c.NodeID,
		"data":       c.DataDir,
		"join":       c.clusterConfig().Join,
		"redact":     c.Gateway.RedactFields,
		"email":      c.AdminEmail,
		"org":        c.OrgName,
		"previous":   c.PreviousAuthSecret,
		"pg":         c.DatabaseURL,
		"influx":     c.GreptimeInfluxURL,
		"remote":     c.GreptimeRemoteWriteURL,
		"images":     c.Gateway.ImageDir,
		"uploads":    c.Gateway.UploadDir,
		"keys":       c.Gateway.SystemKeys,
		"gw node":    c.Gateway.NodeID,
		"clustersec": c.clusterConfig().ClusterSecret,
	}
	want := map[string]any{
		"http":       ":8080",
		"node":       "from-flag",
		"data":       "/var/lib/tg",
		"join":       []string{"10.0.0.1:7946", "10.0.0.2:7946"},
		"redact":     []string{"ssn", "card"},
		"email":      "root@corp.example",
		"org":        "corp",
		"previous":   "the-old-long-secret-0123",
		"pg":         "postgres://tg:pw@db:5432/tg?sslmode=disable",
		"influx":     "http://greptime:4000",
		"remote":     "http://greptime:4000/v1/prometheus/write",
		"images":     "/srv/images",
		"uploads":    "/var/lib/tg/uploads",
		"keys":       map[string]string{"DASHSCOPE_API_KEY": "sk-dash"},
		"gw node":    "from-flag",
		"clustersec": "cluster-secret-0123456789",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
}

// Each bad input is refused with an error that names its flag or
// variable, and never repeats a credential.
func TestParseConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error
	}{
		{"unknown flag", []string{"--no-such-flag"}, nil, "no-such-flag"},
		{"argument", []string{"extra"}, nil, "serve takes no arguments"},
		{"http addr", []string{"--http-addr", "3000"}, nil, "--http-addr"},
		{"http addr from env", nil, map[string]string{"TENSORGATE_HTTP_ADDR": "3000"}, "--http-addr"},
		{"unparsable env value", nil, map[string]string{"TENSORGATE_BOOTSTRAP_EXPECT": "three"}, "TENSORGATE_BOOTSTRAP_EXPECT"},
		{"empty node id", []string{"--node-id", ""}, nil, "--node-id"},
		{"empty data dir", []string{"--data-dir", ""}, nil, "--data-dir"},
		{"log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"log format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"negative bootstrap-expect", []string{"--bootstrap-expect", "-1"}, nil, "--bootstrap-expect"},
		{"negative shutdown timeout", []string{"--shutdown-timeout", "-1s"}, nil, "--shutdown-timeout"},
		{"negative drain delay", []string{"--drain-delay", "-1s"}, nil, "--drain-delay"},
		{"retention", []string{"--audit-retention-days", "-1"}, nil, "--audit-retention-days"},
		{"lease ttl", []string{"--quota-lease-ttl", "10ms"}, nil, "--quota-lease-ttl"},
		{"quota wait", []string{"--quota-wait", "0s"}, nil, "--quota-wait"},
		{"alert webhook", []string{"--alert-webhook-url", "hooks.example.com/x"}, nil, "--alert-webhook-url"},
		{"public url", []string{"--public-url", "gateway.example.com"}, nil, "--public-url"},
		{"outbox size", []string{"--outbox-max-bytes", "1000"}, nil, "--outbox-max-bytes"},
		{"disk reserve", []string{"--disk-reserve", "1MiB"}, nil, "--disk-reserve"},
		{"disk reserve unit", []string{"--disk-reserve", "lots"}, nil, "disk-reserve"},
		{"capability bytes", []string{"--max-capability-bytes", "asr"}, nil, "max-capability-bytes"},
		{"capability name", []string{"--max-capability-bytes", "video=10"}, nil, "size limit video=10"},
		{"max attempts", []string{"--max-attempts", "0"}, nil, "--max-attempts"},
		{"request bytes", []string{"--max-request-bytes", "0"}, nil, "--max-request-bytes"},
		{"upload bytes", nil, map[string]string{"TENSORGATE_MAX_UPLOAD_BYTES": "-1"}, "--max-upload-bytes"},
		{"audit body bytes", []string{"--audit-body-bytes", "-1"}, nil, "--audit-body-bytes"},
		{"outbox full policy", []string{"--outbox-full-policy", "drop"}, nil, "--outbox-full-policy"},
		{"first byte timeout", []string{"--upstream-first-byte-timeout", "0s"}, nil, "--upstream-first-byte-timeout"},
		{"idle timeout", []string{"--upstream-idle-timeout", "-1s"}, nil, "--upstream-idle-timeout"},
		{"response timeout", []string{"--upstream-response-timeout", "0s"}, nil, "--upstream-response-timeout"},
		{"failover window", []string{"--failover-window", "0s"}, nil, "--failover-window"},
		{"image url ttl", []string{"--image-url-ttl", "0s"}, nil, "--image-url-ttl"},
		{"raft addr", []string{"--raft-addr", "7000"}, nil, "--raft-addr"},
		{"gossip addr", []string{"--gossip-addr", "7946"}, nil, "--gossip-addr"},
		{"heartbeat timeout", []string{"--raft-heartbeat-timeout", "0s"}, nil, "--raft-heartbeat-timeout"},
		{"election timeout", []string{"--raft-election-timeout", "-1s"}, nil, "--raft-election-timeout"},
		{"dead server timeout", []string{"--dead-server-timeout", "0s"}, nil, "--dead-server-timeout"},
		{"join without cluster secret", []string{"--join", "10.0.0.1:7946"}, nil, "TENSORGATE_CLUSTER_SECRET"},
		{"short auth secret", nil, map[string]string{"BETTER_AUTH_SECRET": "short"}, "BETTER_AUTH_SECRET:"},
		{"short previous secret", nil, map[string]string{"BETTER_AUTH_SECRET_PREVIOUS": "short"}, "BETTER_AUTH_SECRET_PREVIOUS"},
		{"database url", nil, map[string]string{"DATABASE_URL": "postgres://tg:hunter2@db:notaport/tg"}, "DATABASE_URL"},
		{"influx url", nil, map[string]string{"GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL": "greptime:4000"}, "GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL"},
		{"influx precision", nil, map[string]string{"GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL": "http://g:4000/?precision=ms"}, "GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL"},
		{"remote write url", nil, map[string]string{"GREPTIMEDB_REMOTE_WRITE_UPSTREAM_URL": "ftp://u:hunter2@g/"}, "GREPTIMEDB_REMOTE_WRITE_UPSTREAM_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseConfig(tc.args, mapEnv(tc.env), &stderr)
			if err == nil {
				t.Fatalf("got no error, want one naming %q", tc.want)
			}
			// A bad command-line flag is told on stderr by the flag
			// package (and the error is errUsage); the rest in the error.
			told := err.Error() + "\n" + stderr.String()
			if !strings.Contains(told, tc.want) {
				t.Errorf("got %q, want it to name %q", told, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error repeats a password: %q", err)
			}
		})
	}
}

// The image-link key comes from the HKDF helper; the key of v1 (a bare
// SHA-256) is kept to verify links signed before, never to sign.
func TestImageLinkKeys(t *testing.T) {
	s := "a-long-enough-secret-0123"
	key, old, err := imageLinkKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := secret.DeriveKey(s, imageLinkInfo)
	if !bytes.Equal(key, want) {
		t.Errorf("key is not DeriveKey(secret, %q)", imageLinkInfo)
	}
	if len(old) != 1 || bytes.Equal(old[0], key) {
		t.Errorf("old keys %x: want the v1 key, distinct from the new one", old)
	}
	other, _, _ := imageLinkKeys("another-long-secret-0123")
	if bytes.Equal(other, key) {
		t.Error("two secrets derive the same key")
	}
	if _, _, err := imageLinkKeys("short"); err == nil {
		t.Error("a short secret derived a key")
	}
}
