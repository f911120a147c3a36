package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// status sends one request and returns its status, Retry-After and body;
// a transport error (the node is down or not listening yet) is status 0.
func status(method, url, auth, body string) (int, string, string) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 20 * time.Second}
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
