package main

import (
	"bufio"
	"context"
	"database/sql"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/gateway/mockupstream"
	"github.com/tensorgate/tensorgate/storage/pgsink/pgtest"
)

// tcpProxy forwards loopback connections to a target and can cut them
// all off, the way a network partition or a database restart would.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go p.serve()
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *tcpProxy) pipe(c net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// setCut cuts every connection and refuses new ones, or lets them in again.
func (p *tcpProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// pendingEvents reads a node's backlog for a sink from its metrics; -1
// when the node does not answer.
func pendingEvents(p *proc, sink string) int {
	res, err := http.Get(p.url("/metrics"))
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	prefix := `tensorgate_outbox_pending_events{sink="` + sink + `"} `
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// greptimeRecorder stands in for GreptimeDB: it keeps every line written.
type greptimeRecorder struct {
	mu    sync.Mutex
	lines map[string][]string // request id -> lines
}

var requestIDField = regexp.MustCompile(`request_id="([^"]+)"`)

func (g *greptimeRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if m := requestIDField.FindStringSubmatch(line); m != nil {
			g.lines[m[1]] = append(g.lines[m[1]], line)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// TestAuditExactlyOnceThroughOutagesAndKill runs three nodes under mixed
// streaming and plain load while Postgres is cut off for a while and one
// node is killed with SIGKILL and restarted. At the end every request a
// client got a whole answer for is in audit_events exactly once, nothing
// is doubled, and the rollups agree with the rows.
func TestAuditExactlyOnceThroughOutagesAndKill(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	dsn := pgtest.NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.ln.Addr().String()
	q := viaProxy.Query()
	q.Set("connect_timeout", "2")
	viaProxy.RawQuery = q.Encode()
	gt := &greptimeRecorder{lines: map[string][]string{}}
	gts := httptest.NewServer(gt)
	defer gts.Close()

	ps := startClusterEnv(t, 3, []string{"DATABASE_URL=" + viaProxy.String(), "GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL=" + gts.URL})
	key, mock := setupUpstream(t, ps[0])
	// Slow enough answers that the kill cuts some off mid-stream.
	mock.Set(mockupstream.Behavior{Latency: 5 * time.Millisecond, Chunks: 8, ChunkDelay: 5 * time.Millisecond})
	waitKeyEverywhere(t, ps, key)
	load := startLoad(key, ps, 6)
	load.lenient = true
	time.Sleep(time.Second)

	// Postgres goes away for a while; the data plane does not notice.
	proxy.setCut(true)
	time.Sleep(2 * time.Second)
	pendingDuringCut := pendingEvents(ps[0], "postgres")

	// A node dies mid-load, with events it answered not yet shipped.
	victim := ps[2]
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	load.remove(victim)
	time.Sleep(time.Second)
	proxy.setCut(false)
	victim.start()
	load.add(victim)
	time.Sleep(2 * time.Second)
	load.finish(t)
	t.Logf("backlog on node1 while Postgres was cut: %d events", pendingDuringCut)
	if pendingDuringCut <= 0 {
		t.Errorf("no backlog built up while Postgres was cut (%d)", pendingDuringCut)
	}
	for id, n := range load.failedOn {
		if id != victim.id {
			t.Errorf("%d requests failed on %s, which stayed up", n, id)
		}
	}

	// Every node drains its backlog.
	deadline := time.Now().Add(60 * time.Second)
	for _, p := range ps {
		for pendingEvents(p, "postgres") != 0 || pendingEvents(p, "greptimedb") != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still has %d events for postgres, %d for greptimedb", p.id,
					pendingEvents(p, "postgres"), pendingEvents(p, "greptimedb"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	rows := map[string]int{}
	r, err := db.QueryContext(ctx, `SELECT request_id, count(*) FROM audit_events GROUP BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for r.Next() {
		var id string
		var n int
		if err := r.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		rows[id] = n
		total += n
		if n != 1 {
			t.Errorf("request %s has %d rows", id, n)
		}
	}
	r.Close()
	missing := 0
	for _, id := range load.okIDs {
		if rows[id] != 1 {
			missing++
			if missing < 5 {
				t.Errorf("answered request %s has %d rows", id, rows[id])
			}
		}
		if len(gt.lines[id]) == 0 {
			t.Errorf("answered request %s never reached GreptimeDB", id)
		}
		for _, l := range gt.lines[id] {
			if l != gt.lines[id][0] {
				t.Errorf("request %s was written to GreptimeDB as different lines:\n%s\n%s", id, l, gt.lines[id][0])
			}
		}
	}
	// Rows beyond the answered requests can only be requests whose answer
	// the kill cut off: never more than the failures.
	if extra := total - len(load.okIDs); extra < 0 || int64(extra) > load.fail.Load() {
		t.Errorf("%d rows for %d answered and %d failed requests", total, len(load.okIDs), load.fail.Load())
	}
	var billed int
	for _, table := range []string{"billing_daily", "billing_hourly", "billing_key_daily", "billing_key_weekly", "billing_key_monthly"} {
		if err := db.QueryRowContext(ctx, `SELECT coalesce(sum(requests), 0) FROM `+table).Scan(&billed); err != nil || billed != total {
			t.Errorf("%s counts %d requests for %d rows (%v)", table, billed, total, err)
		}
	}
	t.Logf("answered %d, failed %d (all on the killed node), rows %d, missing %d", len(load.okIDs), load.fail.Load(), total, missing)

	// The admin API reads the same numbers from Postgres.
	tok := ps[1].login("ai-gateway-admin-2026")
	code, rep := ps[1].call("GET", "/api/admin/usage?group_by=capability", tok, nil)
	if code != 200 || rep["source"] != "postgres" || int(rep["totals"].(map[string]any)["requests"].(float64)) != total {
		t.Errorf("usage: %d %v", code, rep)
	}
	id := load.okIDs[len(load.okIDs)/2]
	code, ev := ps[2].call("GET", "/api/admin/audit/"+id, tok, nil)
	if code != 200 || ev["request_id"] != id || ev["request_body"] == nil || len(ev["attempts"].([]any)) == 0 {
		t.Errorf("audit event: %d %v", code, ev)
	}
}

// waitKeyEverywhere waits until every node knows the key.
func waitKeyEverywhere(t *testing.T, ps []*proc, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range ps {
		for {
			req, _ := http.NewRequest("GET", p.url("/v1/models"), nil)
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the key is not usable on %s after 10s", p.id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
