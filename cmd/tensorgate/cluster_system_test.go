package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tensorgate/tensorgate/gateway/mockupstream"
)

const clusterSecretEnv = "TENSORGATE_CLUSTER_SECRET=system-test-cluster-secret"

// startCluster launches size nodes that bootstrap together and waits for
// all of them to be healthy.
func startCluster(t testing.TB, size int, extra ...string) []*proc {
	t.Helper()
	return startClusterEnv(t, size, nil, extra...)
}

// startClusterEnv is startCluster with extra environment for every node.
func startClusterEnv(t testing.TB, size int, env []string, extra ...string) []*proc {
	t.Helper()
	return startClusterOf(t, clusterProcs(t, size, env), extra...)
}

// clusterProcs describes size nodes, not started, for startClusterOf.
func clusterProcs(t testing.TB, size int, env []string) []*proc {
	var ps []*proc
	for i := 1; i <= size; i++ {
		p := &proc{t: t, id: fmt.Sprintf("node%d", i), dataDir: t.TempDir(), http: freePort(t), raft: freePort(t), gossip: freePort(t),
			env: append([]string{"BETTER_AUTH_SECRET=system-test-secret-0123456789", clusterSecretEnv}, env...)}
		ps = append(ps, p)
	}
	return ps
}

// startClusterOf starts nodes that bootstrap together and waits until
// every one is healthy.
func startClusterOf(t testing.TB, ps []*proc, extra ...string) []*proc {
	t.Helper()
	size := len(ps)
	for _, p := range ps {
		var join []string
		for _, q := range ps {
			if q != p {
				join = append(join, q.gossip)
			}
		}
		p.args = append([]string{"--bootstrap-expect", fmt.Sprint(size), "--join", strings.Join(join, ","), "--dead-server-timeout", "1h"}, extra...)
		p.launch()
	}
	for _, p := range ps {
		p.waitHealthy(60 * time.Second)
	}
	return ps
}

func health(p *proc) map[string]any {
	res, err := http.Get(p.url("/api/health"))
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	var m map[string]any
	_ = jsonDecode(res.Body, &m)
	return m
}

func leaderOf(ps []*proc) *proc {
	for _, p := range ps {
		if h := health(p); h != nil && h["raft_state"] == "Leader" {
			return p
		}
	}
	return nil
}

// loadRunner sends chat completions with the official SDK, round-robin over
// the nodes currently in rotation, the way a load balancer with health
// checks would.
type loadRunner struct {
	mu       sync.Mutex
	rotation []*proc
	next     int
	key      string
	ok, fail atomic.Int64
	errs     chan error
	// okIDs are the x-request-id of every answer a client received whole.
	okIDs []string
	// failedOn counts failures by node; lenient runs report them to the
	// test instead of failing it.
	failedOn map[string]int
	lenient  bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(key string, nodes []*proc, workers int) *loadRunner {
	l := &loadRunner{rotation: slices.Clone(nodes), key: key, errs: make(chan error, 100), stop: make(chan struct{}), failedOn: map[string]int{}}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go l.work(w%2 == 0)
	}
	return l
}

func (l *loadRunner) pick() *proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.rotation[l.next%len(l.rotation)]
	l.next++
	return p
}

func (l *loadRunner) remove(p *proc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rotation = slices.DeleteFunc(l.rotation, func(q *proc) bool { return q == p })
}

func (l *loadRunner) add(p *proc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rotation = append(l.rotation, p)
}

func (l *loadRunner) work(stream bool) {
	defer l.wg.Done()
	for i := 0; i < 100000; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		p := l.pick()
		c := openai.NewClient(option.WithBaseURL(p.url("/v1")), option.WithAPIKey(l.key), option.WithMaxRetries(0))
		params := openai.ChatCompletionNewParams{Model: "mock-model", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var (
			err  error
			resp *http.Response
		)
		if stream {
			s := c.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&resp))
			n := 0
			for s.Next() {
				n++
			}
			err = s.Err()
			if err == nil && n == 0 {
				err = fmt.Errorf("empty stream from %s", p.id)
			}
			s.Close()
		} else {
			var res *openai.ChatCompletion
			res, err = c.Chat.Completions.New(ctx, params, option.WithResponseInto(&resp))
			if err == nil && len(res.Choices) == 0 {
				err = fmt.Errorf("no choices from %s", p.id)
			}
		}
		cancel()
		if err != nil {
			l.fail.Add(1)
			l.mu.Lock()
			l.failedOn[p.id]++
			l.mu.Unlock()
			select {
			case l.errs <- fmt.Errorf("%s: %w", p.id, err):
			default:
			}
		} else {
			l.ok.Add(1)
			if resp != nil {
				l.mu.Lock()
				l.okIDs = append(l.okIDs, resp.Header.Get("X-Request-Id"))
				l.mu.Unlock()
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *loadRunner) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	close(l.errs)
	for err := range l.errs {
		if l.lenient {
			t.Logf("data-plane request failed: %v", err)
		} else {
			t.Errorf("data-plane request failed: %v", err)
		}
	}
	t.Logf("load: %d requests succeeded, %d failed", l.ok.Load(), l.fail.Load())
	if l.ok.Load() == 0 {
		t.Error("no request succeeded")
	}
}

// setupUpstream creates the mock provider and a key through one node.
func setupUpstream(t testing.TB, p *proc) (string, *mockupstream.Server) {
	t.Helper()
	mock := mockupstream.New(mockupstream.Behavior{})
	up := httptest.NewServer(mock)
	t.Cleanup(up.Close)
	tok := p.login("ai-gateway-admin-2026")
	if code, m := p.call("POST", "/api/admin/providers", tok, map[string]any{"name": "Mock", "slug": "mock", "base_url": up.URL, "models": "mock-model"}); code != 201 {
		t.Fatalf("provider: %d %v", code, m)
	}
	code, key := p.call("POST", "/api/admin/keys", tok, map[string]any{"name": "load"})
	if code != 201 {
		t.Fatalf("key: %d %v", code, key)
	}
	return key["key"].(string), mock
}

// waitVisible waits until every node lists the org, returning how long it
// took from the write's acknowledgement.
func waitVisible(t *testing.T, ps []*proc, tok, orgName string, acked time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range ps {
		for {
			_, orgs := p.call("GET", "/api/admin/orgs", tok, nil)
			found := false
			if data, ok := orgs["data"].([]any); ok {
				for _, o := range data {
					if o.(map[string]any)["name"] == orgName {
						found = true
					}
				}
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("org %q not visible on %s after 10s", orgName, p.id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return time.Since(acked)
}

func TestClusterKillLeaderUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	ps := startCluster(t, 3)
	leader := leaderOf(ps)
	if leader == nil {
		t.Fatal("no leader")
	}
	var follower *proc
	for _, p := range ps {
		if p != leader {
			follower = p
			break
		}
	}
	key, _ := setupUpstream(t, follower) // admin writes through a follower
	tok := follower.login("ai-gateway-admin-2026")

	// Writes on a follower become visible on every node quickly.
	var vis []time.Duration
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("vis-%d", i)
		code, _ := follower.call("POST", "/api/admin/orgs", tok, map[string]any{"name": name})
		if code != 201 {
			t.Fatalf("follower write: %d", code)
		}
		vis = append(vis, waitVisible(t, ps, tok, name, time.Now()))
	}
	slices.Sort(vis)
	t.Logf("write visibility on every node: median %v, max %v", vis[len(vis)/2], vis[len(vis)-1])

	var survivors []*proc
	for _, p := range ps {
		if p != leader {
			survivors = append(survivors, p)
		}
	}
	load := startLoad(key, survivors, 4)
	time.Sleep(500 * time.Millisecond)

	killed := time.Now()
	_ = leader.cmd.Process.Signal(syscall.SIGKILL)
	<-leader.exited
	var newLeader *proc
	for newLeader == nil || newLeader == leader {
		if time.Since(killed) > 15*time.Second {
			t.Fatal("no new leader within 15s")
		}
		time.Sleep(20 * time.Millisecond)
		newLeader = leaderOf(survivors)
	}
	failover := time.Since(killed)
	// Writes are accepted again, through any survivor.
	code, _ := survivors[0].call("POST", "/api/admin/orgs", tok, map[string]any{"name": "after-failover"})
	writable := time.Since(killed)
	if code != 201 {
		t.Fatalf("write after failover: %d", code)
	}
	t.Logf("leader failover after kill -9: new leader in %v, first write committed in %v", failover.Round(time.Millisecond), writable.Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	load.finish(t)

	// The dead node comes back and catches up.
	leader.start()
	waitVisible(t, []*proc{leader}, tok, "after-failover", time.Now())

	// Explicit removal with the CLI, against any node.
	cmd := exec.Command(binPath, "cluster", "remove", leader.id, "--addr", survivors[1].url(""), "--token", tok)
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster remove: %v\n%s", err, out)
	}
	cmd = exec.Command(binPath, "cluster", "members", "--addr", survivors[0].url(""), "--token", tok)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cluster members: %v\n%s", err, out)
	}
	if strings.Contains(string(out), leader.id+" ") && !strings.Contains(string(out), "none") {
		t.Fatalf("removed node still a raft member:\n%s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for health(leader)["status"] != "removed" {
		if time.Now().After(deadline) {
			t.Fatalf("removed node reports %v", health(leader))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRollingRestartWithLeaderTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	ps := startCluster(t, 5, "--drain-delay", "300ms")
	key, _ := setupUpstream(t, ps[0])
	tok := ps[0].login("ai-gateway-admin-2026")
	load := startLoad(key, ps, 4)
	for _, p := range ps {
		// Take the node out of rotation, as a load balancer does when its
		// health check turns 503, then hand leadership away if it leads.
		load.remove(p)
		if health(p)["raft_state"] == "Leader" {
			cmd := exec.Command(binPath, "cluster", "transfer-leader", "--addr", p.url(""), "--token", tok)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("transfer-leader: %v\n%s", err, out)
			}
		}
		time.Sleep(100 * time.Millisecond) // in-flight requests finish
		p.stop(syscall.SIGTERM)
		p.start()
		load.add(p)
		// Writes keep working between restarts.
		if code, _ := p.call("POST", "/api/admin/orgs", tok, map[string]any{"name": "after-" + p.id}); code != 201 {
			t.Fatalf("write after restarting %s: %d", p.id, code)
		}
	}
	load.finish(t)
	members := 0
	_, c := ps[0].call("GET", "/api/admin/cluster", tok, nil)
	for _, m := range c["members"].([]any) {
		if mm := m.(map[string]any); mm["alive"] == true && (mm["role"] == "leader" || mm["role"] == "follower") {
			members++
		}
	}
	if members != 5 {
		t.Fatalf("after the rolling restart %d live voters, want 5: %v", members, c)
	}
	// Without Postgres, usage comes from the replicated counters: every
	// node answers the whole cluster's count, each request once, however
	// the restarts cut the shipping of events.
	for _, p := range ps {
		waitUsage(t, p, tok, load.ok.Load())
	}
}

// waitUsage waits until p's usage API counts want requests in the
// cluster's counters, and fails if it ever counts more.
func waitUsage(t *testing.T, p *proc, tok string, want int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, rep := p.call("GET", "/api/admin/usage", tok, nil)
		tot, _ := rep["totals"].(map[string]any)
		if code != 200 || rep["source"] != "cluster" || tot == nil {
			t.Fatalf("usage on %s: %d %v", p.id, code, rep)
		}
		got := int64(tot["requests"].(float64))
		if got > want {
			t.Fatalf("usage on %s counts %d requests, %d were made", p.id, got, want)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage on %s counts %d requests after 15s, want %d", p.id, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
