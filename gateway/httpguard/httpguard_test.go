package httpguard

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestTrickledBodyIsCut: a body that arrives slower than the pace fails
// its read within the grace period; a steady one is read whole, and the
// answer that follows it is not cut by the read deadline (a stream that
// outlives the body's deadline). Every answer says nosniff.
func TestTrickledBodyIsCut(t *testing.T) {
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		got <- result{len(b), err}
		if err != nil {
			http.Error(w, "slow body", http.StatusRequestTimeout)
			return
		}
		// Stream past the body's deadline: the guard must have cleared it.
		for range 3 {
			_, _ = io.WriteString(w, "data: x\n\n")
			http.NewResponseController(w).Flush()
			time.Sleep(150 * time.Millisecond)
		}
	}), Config{Grace: 300 * time.Millisecond, MinRate: 1 << 20})
	srv := httptest.NewServer(h)
	defer srv.Close()

	// A trickle: one byte every 200 ms of a declared 100-byte body.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	start := time.Now()
	stop := time.After(5 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var r result
wait:
	for {
		select {
		case r = <-got:
			break wait
		case <-tick.C:
			_, _ = conn.Write([]byte("a"))
		case <-stop:
			t.Fatal("a trickled body was still being read after 5 s")
		}
	}
	if r.err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("trickled body: read %d bytes, err %v, after %v", r.n, r.err, time.Since(start))
	}

	// A steady body, then a stream longer than the body's deadline.
	res, err := http.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("b", 64<<10)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if r := <-got; r.err != nil || r.n != 64<<10 {
		t.Fatalf("steady body: %d bytes, %v", r.n, r.err)
	}
	if err != nil || strings.Count(string(body), "data: x") != 3 {
		t.Fatalf("the answer after the body was cut: %q, %v", body, err)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("no nosniff: %v", res.Header)
	}
}
