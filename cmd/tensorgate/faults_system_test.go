package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// status sends one request and returns its status, Retry-After and body;
// a transport error (the node is down or not listening yet) is status 0.
func status(method, url, auth, body string) (int, string, string) {
	return statusWithin(20*time.Second, method, url, auth, body)
}

// statusWithin is status with a client timeout.
func statusWithin(timeout time.Duration, method, url, auth, body string) (int, string, string) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: timeout}
	res, err := c.Do(req)
	if err != nil {
		return 0, "", ""
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res.StatusCode, res.Header.Get("Retry-After"), b.String()
}

// TestRestartedNodeNeverRefusesValidKeys: a follower killed with -9 and
// restarted answers /v1 from the moment it listens, for a key it had and
// for one created while it was down, only with 200 or with a retryable
// 503 (Retry-After), never 401, until it serves them.
func TestRestartedNodeNeverRefusesValidKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	ps := startCluster(t, 3)
	oldKey, _ := setupUpstream(t, ps[0])
	l := leaderOf(ps)
	tok := l.login("ai-gateway-admin-2026")
	var victim *proc
	for _, p := range ps {
		if p != l {
			victim = p
		}
	}
	victim.kill()
	code, created := l.call("POST", "/api/admin/keys", tok, map[string]any{"name": "made-while-down"})
	if code != 201 {
		t.Fatalf("key while a node is down: %d %v", code, created)
	}
	newKey := created["key"].(string)
	// Enough writes that the restarted node has a log to catch up on.
	for i := range 50 {
		if code, _ := l.call("POST", "/api/admin/orgs", tok, map[string]any{"name": fmt.Sprintf("while-down-%d", i)}); code != 201 {
			t.Fatalf("org %d: %d", i, code)
		}
	}
	victim.launch()
	body := `{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}`
	counts := map[string]int{}
	deadline := time.Now().Add(60 * time.Second)
	served := 0
	for served < 20 && time.Now().Before(deadline) {
		for _, key := range []string{oldKey, newKey} {
			code, retry, msg := status("POST", victim.url("/v1/chat/completions"), key, body)
			switch {
			case code == 0:
				counts["not listening"]++
			case code == 200:
				served++
				counts["200"]++
			case code == 503 && retry != "":
				counts["503"]++
			default:
				t.Fatalf("restarted node answered a valid key %d (retry-after %q): %s (so far %v)", code, retry, msg, counts)
			}
		}
	}
	if served < 20 {
		t.Fatalf("restarted node never served both keys: %v", counts)
	}
	t.Logf("restarted node's answers to valid keys from its first listen: %v", counts)
}

// TestPausedNodesNeverAnswerStale: a leader and then a follower are
// stopped (SIGSTOP) for longer than an election while a value changes
// through another node; the reads queued on them during the pause, and
// every read after, show the new value or answer 503, never the old one.
// ?stale on the paused node answers the old value and says how stale.
func TestPausedNodesNeverAnswerStale(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	ps := startCluster(t, 3)
	l := leaderOf(ps)
	tok := l.login("ai-gateway-admin-2026")
	code, org := l.call("POST", "/api/admin/orgs", tok, map[string]any{"name": "register-v0"})
	if code != 201 {
		t.Fatalf("org: %d %v", code, org)
	}
	id := org["id"].(string)
	for round, role := range []string{"leader", "follower"} {
		victim := leaderOf(ps)
		if role == "follower" {
			for _, p := range ps {
				if p != victim {
					victim = p
					break
				}
			}
		}
		var other *proc
		for _, p := range ps {
			if p != victim {
				other = p
			}
		}
		if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// Reads sent now wait in the paused node's accept queue.
		type answer struct {
			code int
			body string
		}
		answers := make(chan answer, 8)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _, body := status("GET", victim.url("/api/admin/orgs/"+id), tok, "")
				answers <- answer{code, body}
			}()
		}
		// The rest elect a leader if they must and take a new value.
		want := fmt.Sprintf("register-v%d", round+1)
		var written bool
		for deadline := time.Now().Add(20 * time.Second); !written && time.Now().Before(deadline); {
			code, _, _ := status("PATCH", other.url("/api/admin/orgs/"+id), tok, `{"name":"`+want+`"}`)
			written = code == 200
			if !written {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if !written {
			t.Fatalf("%s paused: no write through %s", role, other.id)
		}
		time.Sleep(time.Second)
		if err := victim.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(answers)
		fresh, refused := 0, 0
		for a := range answers {
			switch {
			case a.code == 503:
				refused++
			case a.code == 200 && strings.Contains(a.body, `"`+want+`"`):
				fresh++
			default:
				t.Fatalf("paused %s answered a read queued during the pause %d: %s (want %s or 503)", role, a.code, a.body, want)
			}
		}
		// Every read after the resume is current too.
		for range 20 {
			code, _, body := status("GET", victim.url("/api/admin/orgs/"+id), tok, "")
			if code == 200 && !strings.Contains(body, `"`+want+`"`) {
				t.Fatalf("resumed %s answered an old value: %s", role, body)
			}
		}
		t.Logf("paused %s: %d queued reads answered the new value, %d answered 503", role, fresh, refused)
	}
	// ?stale on a node that is cut off answers at once, saying how stale.
	var follower *proc
	for _, p := range ps {
		if p != leaderOf(ps) {
			follower = p
		}
	}
	if err := follower.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := follower.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", follower.url("/api/admin/orgs/"+id+"?stale"), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var o map[string]any
	_ = json.NewDecoder(res.Body).Decode(&o)
	if res.StatusCode != 200 || res.Header.Get("X-Tensorgate-Last-Contact") == "" || res.Header.Get("X-Tensorgate-Known-Leader") == "" || res.Header.Get("X-Tensorgate-Index") == "" {
		t.Fatalf("?stale: %d %v headers %v", res.StatusCode, o, res.Header)
	}
}

// cutUID is the user a node cut off by iptables runs as.
const cutUID = 64123

// ownedDataDir is a data dir the user uid owns, under a parent it can
// reach (the test's own temp dirs are private to root).
func ownedDataDir(t *testing.T, uid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tensorgate-cut-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	return dir
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// cutNode drops every packet between p (running as cutUID) and the other
// nodes' raft and gossip ports, both ways, with rules in a chain of the
// test's own; HTTP (clients, the mock upstream) still flows. It returns
// heal, which removes them; they are removed at the end of the test too.
func cutNode(t *testing.T, p *proc, others []*proc) (heal func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test cuts a node off with iptables: it needs root, but runs as uid %d (go test -short skips the system tests)", os.Geteuid())
	}
	iptables, err := exec.LookPath("iptables")
	if err != nil {
		iptables = "/usr/sbin/iptables" // root's PATH may lack sbin
		if _, err := os.Stat(iptables); err != nil {
			t.Fatal("this test cuts a node off with iptables, which is not installed (Debian package iptables; .ci/run installs it)")
		}
	}
	chain := fmt.Sprintf("TG-CUT-%d", os.Getpid())
	run := func(args ...string) error {
		if out, err := exec.Command(iptables, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	var once sync.Once
	heal = func() {
		once.Do(func() {
			_ = run("-D", "OUTPUT", "-j", chain)
			_ = run("-F", chain)
			_ = run("-X", chain)
		})
	}
	t.Cleanup(heal)
	uid := fmt.Sprint(cutUID)
	rules := [][]string{}
	for _, proto := range []string{"tcp", "udp"} {
		// Others to p.
		rules = append(rules, []string{"-p", proto, "--dport", portOf(t, p.gossip)})
		// p to others, and p's answers on connections opened before.
		rules = append(rules, []string{"-m", "owner", "--uid-owner", uid, "-p", proto, "--sport", portOf(t, p.gossip)})
		for _, q := range others {
			rules = append(rules, []string{"-m", "owner", "--uid-owner", uid, "-p", proto, "--dport", portOf(t, q.gossip)})
		}
	}
	rules = append(rules, []string{"-p", "tcp", "--dport", portOf(t, p.raft)},
		[]string{"-m", "owner", "--uid-owner", uid, "-p", "tcp", "--sport", portOf(t, p.raft)})
	for _, q := range others {
		rules = append(rules, []string{"-m", "owner", "--uid-owner", uid, "-p", "tcp", "--dport", portOf(t, q.raft)})
	}
	if err := run("-N", chain); err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if err := run(append(append([]string{"-A", chain}, r...), "-j", "DROP")...); err != nil {
			heal()
			t.Fatal(err)
		}
	}
	if err := run("-I", "OUTPUT", "1", "-j", chain); err != nil {
		heal()
		t.Fatal(err)
	}
	return heal
}

// TestPartitionedNodeUnderLoad cuts one follower of three off with
// iptables while clients load the majority: the majority fails no
// request; the cut-off node keeps serving the keys it knows, answers a
// key created meanwhile 503 (never 401) and admin reads 503 (never its
// old state), except ?stale, which says how stale; once healed it serves
// the new key and the new state.
func TestPartitionedNodeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	ps := clusterProcs(t, 3, nil)
	cut := ps[2]
	cut.uid, cut.dataDir = cutUID, ownedDataDir(t, cutUID)
	startClusterOf(t, ps)
	oldKey, _ := setupUpstream(t, ps[0])
	tok := ps[0].login("ai-gateway-admin-2026")
	code, org := ps[0].call("POST", "/api/admin/orgs", tok, map[string]any{"name": "cut-v0"})
	if code != 201 {
		t.Fatalf("org: %d %v", code, org)
	}
	orgURL := "/api/admin/orgs/" + org["id"].(string)
	chat := `{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}`
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, _, _ := status("POST", cut.url("/v1/chat/completions"), oldKey, chat)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node3 does not serve the key before the cut: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if health(cut)["raft_state"] == "Leader" {
		if code, m := cut.call("POST", "/api/admin/cluster/transfer-leader", tok, map[string]any{"node_id": ps[0].id}); code != 200 {
			t.Fatalf("move leadership off node3: %d %v", code, m)
		}
	}
	majority := ps[:2]
	heal := cutNode(t, cut, majority)

	// Clients load the majority the whole time.
	var load sync.WaitGroup
	var served, failed atomicCount
	stop := make(chan struct{})
	for w := range 4 {
		load.Add(1)
		go func() {
			defer load.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if code, _, _ := status("POST", majority[(w+i)%2].url("/v1/chat/completions"), oldKey, chat); code == 200 {
					served.add()
				} else {
					failed.add()
				}
			}
		}()
	}
	// Through the majority: a new key, a new name.
	var newKey string
	var last map[string]any
	for deadline := time.Now().Add(15 * time.Second); newKey == "" && time.Now().Before(deadline); {
		code, m := ps[0].call("POST", "/api/admin/keys", tok, map[string]any{"name": "made-during-cut", "org_id": org["id"]})
		if code == 201 {
			newKey = m["key"].(string)
		} else {
			last = m
			time.Sleep(100 * time.Millisecond)
		}
	}
	if newKey == "" {
		t.Fatalf("the majority took no write during the cut: %v (leaders: %v %v)", last, health(ps[0])["leader"], health(ps[1])["leader"])
	}
	if code, m := ps[0].call("PATCH", orgURL, tok, map[string]any{"name": "cut-v1"}); code != 200 {
		t.Fatalf("rename through the majority: %d %v", code, m)
	}
	// The cut-off node.
	var known, newRefused, newServed int
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		if code, _, _ := status("POST", cut.url("/v1/chat/completions"), oldKey, chat); code == 200 {
			known++
		}
		code, retry, body := status("POST", cut.url("/v1/chat/completions"), newKey, chat)
		switch {
		case code == 503 && retry != "":
			newRefused++
		case code == 200:
			newServed++ // cannot happen while cut off, but would not be wrong
		default:
			t.Fatalf("cut-off node answered a key created during the cut %d (retry-after %q): %s", code, retry, body)
		}
	}
	if known == 0 || newRefused == 0 {
		t.Fatalf("cut-off node: %d known-key calls served, %d new-key calls answered 503", known, newRefused)
	}
	code, _, body := status("GET", cut.url(orgURL), tok, "")
	if code != 503 {
		t.Fatalf("cut-off node answered an admin read %d: %s", code, body)
	}
	req, _ := http.NewRequest("GET", cut.url(orgURL+"?stale"), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var stale map[string]any
	_ = json.NewDecoder(res.Body).Decode(&stale)
	res.Body.Close()
	lastContact, _ := strconv.Atoi(res.Header.Get("X-Tensorgate-Last-Contact"))
	if res.StatusCode != 200 || stale["name"] != "cut-v0" || lastContact < 1000 {
		t.Fatalf("?stale on the cut-off node: %d %v, last contact %q ms, known leader %q", res.StatusCode, stale,
			res.Header.Get("X-Tensorgate-Last-Contact"), res.Header.Get("X-Tensorgate-Known-Leader"))
	}
	close(stop)
	load.Wait()
	if failed.n.Load() > 0 || served.n.Load() == 0 {
		t.Fatalf("majority under load during the cut: %d served, %d failed", served.n.Load(), failed.n.Load())
	}

	heal()
	start := time.Now()
	for deadline := start.Add(20 * time.Second); ; {
		code, _, _ := status("POST", cut.url("/v1/chat/completions"), newKey, chat)
		rcode, _, rbody := status("GET", cut.url(orgURL), tok, "")
		if code == 200 && rcode == 200 && strings.Contains(rbody, `"cut-v1"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s after healing: new key %d, admin read %d %s", code, rcode, rbody)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("during the cut: majority served %d, failed 0; cut-off node served the known key %d times, answered the new key 503 %d times; healed and current in %v",
		served.n.Load(), known, newRefused, time.Since(start).Round(time.Millisecond))
}

type atomicCount struct{ n atomic.Int64 }

func (c *atomicCount) add() { c.n.Add(1) }
