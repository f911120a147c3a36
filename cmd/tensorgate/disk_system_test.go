package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/gateway/mockupstream"
)

// The full-disk tests run a node on a small tmpfs they fill up. A tmpfs
// of 192 MiB holds the node's preallocated stores (about 85 MiB: the
// outbox's memtable and value log, the raft log's WAL) with room above a
// reserve of 64 MiB.
const (
	diskTestSize    = 192 << 20
	diskTestReserve = "64MiB"
)

// mountTmpfs mounts a tmpfs of size bytes for the test and unmounts it at
// the end, whatever the outcome.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test fills a disk, a small tmpfs it mounts: it needs root and mount(8), but runs as uid %d (go test -short skips the system tests)", os.Geteuid())
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("this test needs to mount a tmpfs (root and mount(8)); mount at %s failed: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			_ = exec.Command("umount", "-l", dir).Run()
			t.Errorf("unmount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file until the filesystem of dir has no byte left.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "fill")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4 << 10, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", path, err)
				}
				break
			}
		}
	}
	return path
}

// diskNode is a node on a tmpfs with a provider pointing at the mock
// upstream and a key to call it with.
type diskNode struct {
	*proc
	mock *mockupstream.Server
	key  string
}

func newDiskProc(t *testing.T, dataDir string) *proc {
	return &proc{t: t, dataDir: dataDir, http: freePort(t), raft: freePort(t), gossip: freePort(t),
		env: []string{"BETTER_AUTH_SECRET=system-test-secret-0123456789"}, args: []string{"--disk-reserve", diskTestReserve}}
}

// setUp gives a serving node a provider at the mock upstream and a key.
func (n *diskNode) setUp(t *testing.T) {
	t.Helper()
	n.mock = mockupstream.New(mockupstream.Behavior{})
	up := httptest.NewServer(n.mock)
	t.Cleanup(up.Close)
	tok := n.login("ai-gateway-admin-2026")
	if code, m := n.call("POST", "/api/admin/providers", tok, map[string]any{"name": "Mock", "slug": "mock", "base_url": up.URL, "api_key": "sk-up", "models": "mock-model"}); code != 201 {
		t.Fatalf("provider: %d %v", code, m)
	}
	code, key := n.call("POST", "/api/admin/keys", tok, map[string]any{"name": "disk"})
	if code != 201 {
		t.Fatalf("key: %d %v", code, key)
	}
	n.key = key["key"].(string)
}

// chat makes one chat completion; status, error code and Retry-After.
// A request under way when the disk fills has its answer withheld (the
// connection is cut): that comes back as status 0 and the error.
func (n *diskNode) chat() (int, string, string) {
	n.t.Helper()
	req, _ := http.NewRequest("POST", n.url("/v1/chat/completions"), strings.NewReader(`{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+n.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error(), ""
	}
	defer res.Body.Close()
	var m struct{ Error struct{ Code string } }
	_ = jsonDecode(res.Body, &m)
	return res.StatusCode, m.Error.Code, res.Header.Get("Retry-After")
}

// waitFor polls cond every 20ms until it holds, failing after d.
func waitFor(t *testing.T, p *proc, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		select {
		case <-p.exited:
			t.Fatalf("the node exited while waiting for %s:\n%s", what, p.log)
		default:
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// nodeHealth returns the node's health status code and body; 0 when it does
// not answer.
func nodeHealth(p *proc) (int, map[string]any) {
	res, err := http.Get(p.url("/api/health"))
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	var m map[string]any
	_ = jsonDecode(res.Body, &m)
	return res.StatusCode, m
}

func metricsText(t *testing.T, p *proc) string {
	t.Helper()
	res, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// checkFull checks everything a full node says about itself.
func checkFull(t *testing.T, n *diskNode, stage string) {
	t.Helper()
	before := n.mock.Requests()
	for range 20 {
		code, errCode, retry := n.chat()
		if code != 503 || errCode != "storage_full" || retry == "" {
			t.Fatalf("%s: chat answered %d %q (Retry-After %q), want 503 storage_full with Retry-After", stage, code, errCode, retry)
		}
	}
	if got := n.mock.Requests(); got != before {
		t.Fatalf("%s: %d upstream calls for refused requests", stage, got-before)
	}
	code, h := nodeHealth(n.proc)
	if code != 503 || h["status"] != "disk_full" || h["full_dir"] != n.dataDir || h["free_bytes"] == nil {
		t.Fatalf("%s: health %d %v, want 503 disk_full naming %s and its free bytes", stage, code, h, n.dataDir)
	}
	m := metricsText(t, n.proc)
	if !strings.Contains(m, "\ntensorgate_disk_full 1\n") || !strings.Contains(m, `tensorgate_disk_free_bytes{dir="`+n.dataDir+`"}`) {
		t.Fatalf("%s: metrics lack tensorgate_disk_full 1 or the data dir's free bytes:\n%s", stage, m)
	}
}

// checkQuietLog checks a full disk was logged once per change, not once
// per refused write or retried flush.
func checkQuietLog(t *testing.T, p *proc, wantFull int) {
	t.Helper()
	log := p.log.String()
	if n := strings.Count(log, "disk below its reserve"); n != wantFull {
		t.Errorf("logged the full disk %d times, want %d", n, wantFull)
	}
	if n := strings.Count(log, "no space left on device"); n > 5 {
		t.Errorf("%d log lines about no space left on device", n)
	}
	if n := strings.Count(log, "request failed"); n > 0 {
		t.Errorf("%d log lines for refused requests; the first: %s", n, firstLine(log, "request failed"))
	}
}

// TestFullDiskNodeStaysUpAndResumes fills the disk under a serving node:
// it stays up, refuses with storage_full, says why in health and metrics,
// and serves again on its own once space is freed; stopped and restarted
// while still full, it opens HTTP, explains, and resumes the same way.
func TestFullDiskNodeStaysUpAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	mnt := mountTmpfs(t, diskTestSize)
	n := &diskNode{proc: newDiskProc(t, filepath.Join(mnt, "data"))}
	n.start()
	n.setUp(t)
	if code, errCode, _ := n.chat(); code != 200 {
		t.Fatalf("chat with room: %d %s", code, errCode)
	}

	fill := fillDisk(t, mnt)
	waitFor(t, n.proc, "storage_full once the disk is full", 5*time.Second, func() bool {
		code, errCode, _ := n.chat()
		return code == 503 && errCode == "storage_full"
	})
	checkFull(t, n, "disk filled under a running node")
	tok := n.login("ai-gateway-admin-2026") // a session lives in memory: no write
	if code, m := n.call("POST", "/api/admin/orgs", tok, map[string]any{"name": "research"}); code != 503 || m["error"].(map[string]any)["code"] != "storage_full" {
		t.Fatalf("admin write on a full disk: %d %v", code, m)
	}

	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, n.proc, "serving again once space is freed", 15*time.Second, func() bool {
		code, _, _ := n.chat()
		return code == 200
	})
	t.Logf("running node: from space freed to serving again: %v", took.Round(time.Millisecond))
	if code, h := nodeHealth(n.proc); code != 200 {
		t.Fatalf("health once space is back: %d %v", code, h)
	}
	checkQuietLog(t, n.proc, 1)

	// Stopped and started again on a full disk.
	fill = fillDisk(t, mnt)
	waitFor(t, n.proc, "storage_full again", 5*time.Second, func() bool { code, _, _ := n.chat(); return code == 503 })
	n.stop(syscall.SIGTERM)
	if !n.cmd.ProcessState.Success() {
		t.Fatalf("the node did not stop cleanly on a full disk (%v):\n%s", n.cmd.ProcessState, n.log)
	}
	n.launch()
	waitFor(t, n.proc, "health explaining the full disk after a restart", 30*time.Second, func() bool {
		code, h := nodeHealth(n.proc)
		return code == 503 && h["status"] == "disk_full"
	})
	checkFull(t, n, "restarted on a full disk")
	checkQuietLog(t, n.proc, 1)

	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, n.proc, "serving after a restart on a full disk, once space is freed", 30*time.Second, func() bool {
		code, _, _ := n.chat()
		return code == 200
	})
	t.Logf("node restarted on a full disk: from space freed to serving again: %v", took.Round(time.Millisecond))
	// Every answered request kept its record across the full disk and the
	// restart: the audit (the node's own outbox here) lists each of them.
	tok = n.login("ai-gateway-admin-2026")
	code, audit := n.call("GET", "/api/admin/audit", tok, nil)
	if code != 200 {
		t.Fatalf("audit: %d %v", code, audit)
	}
	answered := 0
	for _, e := range audit["data"].([]any) {
		if e.(map[string]any)["status"] == float64(200) {
			answered++
		}
	}
	if answered < 3 {
		t.Fatalf("the audit lists %d answered requests, want the 3 answered (before, between and after the full disks):\n%v", answered, audit)
	}
	checkQuietLog(t, n.proc, 1)
}

// TestNodeFirstStartedOnFullDisk starts a node for the first time on a
// disk that is already full: it opens HTTP and explains, then bootstraps
// and serves once space is freed.
func TestNodeFirstStartedOnFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	mnt := mountTmpfs(t, diskTestSize)
	fill := fillDisk(t, mnt)
	p := newDiskProc(t, filepath.Join(mnt, "data"))
	p.launch()
	waitFor(t, p, "health explaining the full disk", 30*time.Second, func() bool {
		code, h := nodeHealth(p)
		return code == 503 && h["status"] == "disk_full" && h["full_dir"] == p.dataDir
	})
	if m := metricsText(t, p); !strings.Contains(m, "\ntensorgate_disk_full 1\n") {
		t.Fatalf("metrics before storage opened:\n%s", m)
	}
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, p, "healthy once space is freed", 30*time.Second, func() bool {
		code, _ := nodeHealth(p)
		return code == 200
	})
	t.Logf("first start on a full disk: from space freed to healthy: %v", took.Round(time.Millisecond))
	n := &diskNode{proc: p}
	n.setUp(t)
	if code, errCode, _ := n.chat(); code != 200 {
		t.Fatalf("chat after the space came back: %d %s", code, errCode)
	}
	checkQuietLog(t, p, 1)
}

// firstLine returns the first line of log that contains s.
func firstLine(log, s string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
