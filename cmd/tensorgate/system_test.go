package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/tensorgate/tensorgate/cluster/clustertest"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/gateway/mockupstream"
	"github.com/tensorgate/tensorgate/migrations"
	"github.com/tensorgate/tensorgate/storage/pgsink/pgtest"
)

// System tests run the real binary, built once per test run.
var binPath string

func TestMain(m *testing.M) {
	code := func() int {
		flag.Parse()
		bench := flag.Lookup("test.bench").Value.String() != ""
		if testing.Short() && !bench {
			// Every system test skips itself: only unit tests run, and
			// they need no binary.
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "tensorgate-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// Nodes some tests run as another user must reach the binary.
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		binPath = filepath.Join(dir, "tensorgate")
		// Tests run the binary with the race detector; benchmarks measure
		// the binary users run.
		args := []string{"build", "-race", "-o", binPath, "."}
		if bench {
			args = []string{"build", "-o", binPath, "."}
		}
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build tensorgate: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func freePort(t testing.TB) string {
	t.Helper()
	return clustertest.FreeAddr(t)
}

// proc is one running `tensorgate serve`.
type proc struct {
	t       testing.TB
	cmd     *exec.Cmd
	dataDir string
	http    string
	raft    string
	gossip  string
	env     []string
	args    []string // extra serve flags
	id      string
	// uid, when not 0, runs the node as that user (and group), so a test
	// can cut its traffic with iptables' owner match.
	uid    uint32
	log    *syncBuffer
	exited chan struct{}
}

func startProc(t testing.TB, dataDir string, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, dataDir: dataDir, http: freePort(t), raft: freePort(t), gossip: freePort(t), env: env}
	p.start()
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.launch()
	p.waitHealthy(30 * time.Second)
}

// launch starts the process without waiting for it.
func (p *proc) launch() {
	p.t.Helper()
	id := p.id
	if id == "" {
		id = "node1"
	}
	args := append([]string{"serve", "--node-id", id, "--data-dir", p.dataDir,
		"--http-addr", p.http, "--raft-addr", p.raft, "--gossip-addr", p.gossip}, p.args...)
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	if p.uid != 0 {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: p.uid, Gid: p.uid}}
	}
	p.log = &syncBuffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	p.t.Cleanup(func() { p.kill() })
	// Runs before the kill above: a failed test says which of its nodes
	// had already exited, and how they ended.
	cmd, log, exited := p.cmd, p.log, p.exited
	p.t.Cleanup(func() {
		select {
		case <-exited:
			if p.t.Failed() && p.exited == exited {
				lines := strings.Split(strings.TrimSpace(log.String()), "\n")
				p.t.Logf("%s had exited (%v) before the test ended; its last lines:\n%s", id, cmd.ProcessState,
					strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		default:
		}
	})
}

// waitHealthy waits for /api/health to answer 200.
func (p *proc) waitHealthy(d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		res, err := http.Get("http://" + p.http + "/api/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case <-p.exited:
			p.t.Fatalf("tensorgate exited during start:\n%s", p.log)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("tensorgate not healthy after %v:\n%s", d, p.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) stop(sig syscall.Signal) {
	p.t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		// SIGQUIT makes the Go runtime print every goroutine's stack:
		// what the node was stuck on ends up in the log below.
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
		}
		p.t.Fatalf("tensorgate did not exit on %v (its goroutines at SIGQUIT are at the end):\n%s", sig, p.log)
	}
}

func (p *proc) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) url(path string) string { return "http://" + p.http + path }

func (p *proc) call(method, path, token string, body any) (int, map[string]any) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url(path), rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func (p *proc) login(pw string) string {
	p.t.Helper()
	code, m := p.call("POST", "/api/auth/login", "", map[string]string{"email": "admin@example.com", "password": pw})
	if code != 200 {
		p.t.Fatalf("login: %d %v", code, m)
	}
	return m["token"].(string)
}

func names(m map[string]any, field string) []string {
	var out []string
	for _, v := range m["data"].([]any) {
		out = append(out, v.(map[string]any)[field].(string))
	}
	return out
}

// TestRestartKeepsStateAndSecretsStaySealed is the core issue's acceptance
// test: state survives restarts (clean and SIGKILL), and no secret is ever
// written to the data dir in plaintext.
func TestRestartKeepsStateAndSecretsStaySealed(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	const upstreamKey = "sk-upstream-PLAINTEXT-canary-7f3a9"
	dataDir := t.TempDir()
	p := startProc(t, dataDir, "BETTER_AUTH_SECRET=system-test-secret-0123456789", "DASHSCOPE_API_KEY=sk-env-canary-42")
	tok := p.login("ai-gateway-admin-2026")

	if code, _ := p.call("POST", "/api/auth/login", "", map[string]string{"email": "admin@example.com", "password": "wrong"}); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if code, _ := p.call("GET", "/api/admin/orgs", "", nil); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
	if code, m := p.call("POST", "/api/admin/orgs", tok, map[string]any{"name": ""}); code != 400 || m["error"].(map[string]any)["param"] != "name" {
		t.Fatalf("invalid org: %d %v", code, m)
	}
	if code, m := p.call("POST", "/api/admin/orgs", tok, map[string]any{"name": "research"}); code != 201 {
		t.Fatalf("create org: %d %v", code, m)
	}
	if code, m := p.call("POST", "/api/admin/providers", tok, map[string]any{
		"name": "Self-hosted vLLM", "slug": "vllm", "base_url": "http://10.1.2.3:8000", "api_key": upstreamKey, "models": "qwen3-32b",
	}); code != 201 {
		t.Fatalf("create provider: %d %v", code, m)
	}
	_, orgs := p.call("GET", "/api/admin/orgs", tok, nil)
	var defaultOrg string
	for _, o := range orgs["data"].([]any) {
		if o.(map[string]any)["name"] == "default-org" {
			defaultOrg = o.(map[string]any)["id"].(string)
		}
	}
	code, key := p.call("POST", "/api/admin/keys", tok, map[string]any{"name": "billing", "org_id": defaultOrg})
	if code != 201 {
		t.Fatalf("create key: %d %v", code, key)
	}
	secret := key["key"].(string)
	_, provs := p.call("GET", "/api/admin/providers", tok, nil)
	if got := strings.Join(names(provs, "slug"), ","); got != "dashscope,deepseek,vllm" {
		t.Fatalf("providers %s", got)
	}
	if src := provs["data"].([]any)[0].(map[string]any)["api_key_source"]; src != "env:DASHSCOPE_API_KEY" {
		t.Fatalf("dashscope key source %v", src)
	}

	check := func(stage string) {
		t.Helper()
		tok := p.login("ai-gateway-admin-2026")
		_, orgs := p.call("GET", "/api/admin/orgs", tok, nil)
		if got := strings.Join(names(orgs, "name"), ","); got != "default-org,research" {
			t.Fatalf("%s: orgs %s", stage, got)
		}
		_, keys := p.call("GET", "/api/admin/keys", tok, nil)
		if got := names(keys, "id"); len(got) != 1 || got[0] != key["id"] {
			t.Fatalf("%s: keys %v", stage, got)
		}
		_, provs := p.call("GET", "/api/admin/providers/vllm", tok, nil)
		if provs["has_api_key"] != true {
			t.Fatalf("%s: provider lost its key: %v", stage, provs)
		}
	}
	p.stop(syscall.SIGTERM)
	p.start()
	check("after SIGTERM restart")
	p.stop(syscall.SIGKILL)
	p.start()
	check("after SIGKILL restart")
	p.stop(syscall.SIGTERM)

	// Nothing secret in plaintext anywhere under the data dir: not the
	// upstream key, not the env key, not the gk_ secret, not the password.
	canaries := []string{upstreamKey, "sk-env-canary-42", secret, "ai-gateway-admin-2026"}
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, c := range canaries {
			if bytes.Contains(b, []byte(c)) {
				t.Errorf("%s holds a secret in plaintext (%.12s...)", path, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotSaveRestoreCLI backs up one node with the CLI and restores it
// into a fresh node's cluster.
func TestSnapshotSaveRestoreCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	env := []string{"BETTER_AUTH_SECRET=system-test-secret-0123456789"}
	a := startProc(t, t.TempDir(), env...)
	tok := a.login("ai-gateway-admin-2026")
	a.call("POST", "/api/admin/orgs", tok, map[string]any{"name": "research"})
	a.call("POST", "/api/admin/providers", tok, map[string]any{"name": "Claude", "slug": "claude", "format": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "sk-ant-x"})
	_, key := a.call("POST", "/api/admin/keys", tok, map[string]any{"name": "k", "org_id": orgID(t, a, tok, "default-org")})

	file := filepath.Join(t.TempDir(), "backup.snap")
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binPath, args...)
		cmd.Env = append(os.Environ(), "ONPREM_ADMIN_EMAIL=admin@example.com", "ONPREM_ADMIN_PASSWORD=ai-gateway-admin-2026")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tensorgate %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	cli("snapshot", "save", file, "--addr", a.url(""))
	if st, err := os.Stat(file); err != nil || st.Size() == 0 {
		t.Fatalf("snapshot file: %v", err)
	}

	b := startProc(t, t.TempDir(), env...)
	btok := b.login("ai-gateway-admin-2026")
	cmd := exec.Command(binPath, "snapshot", "restore", file, "--addr", b.url(""), "--token", btok)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	// The restored state has the backup's admin (same password here) and
	// every org, key and provider.
	btok = b.login("ai-gateway-admin-2026")
	_, orgs := b.call("GET", "/api/admin/orgs", btok, nil)
	if got := strings.Join(names(orgs, "name"), ","); got != "default-org,research" {
		t.Fatalf("orgs after restore: %s", got)
	}
	if code, k := b.call("GET", "/api/admin/keys/"+key["id"].(string), btok, nil); code != 200 || k["status"] != "active" {
		t.Fatalf("key after restore: %d %v", code, k)
	}
	if code, p := b.call("GET", "/api/admin/providers/claude", btok, nil); code != 200 || p["has_api_key"] != true {
		t.Fatalf("provider after restore: %d %v", code, p)
	}
	// And it survives b's restart.
	b.stop(syscall.SIGTERM)
	b.start()
	if code, _ := b.call("GET", "/api/admin/providers/claude", b.login("ai-gateway-admin-2026"), nil); code != 200 {
		t.Fatalf("provider after restore and restart: %d", code)
	}

	out := cli("version")
	if !strings.HasPrefix(out, "tensorgate ") {
		t.Fatalf("version: %q", out)
	}
}

func orgID(t *testing.T, p *proc, tok, name string) string {
	t.Helper()
	_, orgs := p.call("GET", "/api/admin/orgs", tok, nil)
	for _, o := range orgs["data"].([]any) {
		if o.(map[string]any)["name"] == name {
			return o.(map[string]any)["id"].(string)
		}
	}
	t.Fatalf("no org %q", name)
	return ""
}

// TestDataPlaneThroughBinary makes the README's first call against a real
// node: a provider pointing at the mock upstream, a key, a chat completion,
// and the key's revocation.
func TestDataPlaneThroughBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	mock := mockupstream.New(mockupstream.Behavior{Record: true})
	up := httptest.NewServer(mock)
	defer up.Close()
	p := startProc(t, t.TempDir(), "BETTER_AUTH_SECRET=system-test-secret-0123456789")
	tok := p.login("ai-gateway-admin-2026")
	if code, m := p.call("POST", "/api/admin/providers", tok, map[string]any{"name": "Mock", "slug": "mock", "base_url": up.URL, "api_key": "sk-up", "models": "mock-model"}); code != 201 {
		t.Fatalf("provider: %d %v", code, m)
	}
	_, key := p.call("POST", "/api/admin/keys", tok, map[string]any{"name": "first"})
	chat := func() (int, map[string]any) {
		req, _ := http.NewRequest("POST", p.url("/v1/chat/completions"), strings.NewReader(`{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+key["key"].(string))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		if res.Header.Get("X-Request-Id") == "" {
			t.Fatal("no X-Request-Id")
		}
		return res.StatusCode, m
	}
	code, m := chat()
	if code != 200 || m["choices"] == nil {
		t.Fatalf("chat: %d %v", code, m)
	}
	if got := mock.LastRequest().Header.Get("Authorization"); got != "Bearer sk-up" {
		t.Fatalf("upstream got Authorization %q", got)
	}
	if code, _ := p.call("DELETE", "/api/admin/keys/"+key["id"].(string), tok, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	if code, m := chat(); code != 401 {
		t.Fatalf("after revoke: %d %v", code, m)
	}
}

// syncBuffer is a bytes.Buffer safe for the child's output goroutines and
// the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// TestMigrateCommand runs `tensorgate migrate` against a fresh database,
// twice.
func TestMigrateCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	dsn := pgtest.NewDatabase(t)
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatal("no embedded migrations", err)
	}
	for i, want := range []string{fmt.Sprintf("applied %d migration", len(files)), "applied 0 migration"} {
		cmd := exec.Command(binPath, "migrate")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
	}
	cmd := exec.Command(binPath, "migrate")
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "DATABASE_URL is not set") {
		t.Fatalf("without DATABASE_URL: %v\n%s", err, out)
	}
}
