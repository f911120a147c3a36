package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tensorgate/tensorgate/cluster/clustertest"
)

// startTestNode starts a single-node cluster in this process on free
// loopback ports and waits until it has bootstrapped its state.
func startTestNode(t *testing.T) *Node {
	t.Helper()
	args := []string{"--node-id", "n1", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0",
		"--raft-addr", clustertest.FreeAddr(t), "--gossip-addr", clustertest.FreeAddr(t), "--disk-reserve", "48MiB"}
	c, err := parseConfig(args, mapEnv(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n := NewNode(c, slog.New(slog.DiscardHandler))
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	deadline := time.Now().Add(30 * time.Second)
	for !n.state.View().Bootstrapped() || !healthy(n) {
		if time.Now().After(deadline) {
			t.Fatal("the node did not bootstrap its state and answer health within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

func healthy(n *Node) bool {
	res, err := http.Get("http://" + n.Addr().String() + "/api/health")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// Start then Stop leaves no goroutine behind: every background task has
// an owner that waits for it.
func TestNodeStartStopLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	n := startTestNode(t)
	http.DefaultClient.CloseIdleConnections()
	if err := n.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// A node that cannot start stops what it started, and says why.
func TestNodeStartFailureLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	args := []string{"--node-id", "n1", "--data-dir", t.TempDir(), "--http-addr", ln.Addr().String(), "--disk-reserve", "48MiB"}
	c, err := parseConfig(args, mapEnv(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n := NewNode(c, slog.New(slog.DiscardHandler))
	err = n.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) {
		t.Fatalf("start on a taken port: got %v, want a listen error", err)
	}
	select {
	case <-n.Failed():
	default:
		t.Error("Failed is not closed after a failed start")
	}
	if got := n.Stop(); got != err {
		t.Errorf("stop: got %v, want the start error %v", got, err)
	}
}

// Stop waits for requests still in a handler after a forced close: the
// router's handler counts them.
func TestSwapHandlerWaitsForRunningRequests(t *testing.T) {
	var h swapHandler
	entered, release := make(chan struct{}), make(chan struct{})
	h.set(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { close(entered); <-release }))
	if !h.wait(time.Millisecond) {
		t.Fatal("wait with no request: got false, want true")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	<-entered
	if h.wait(10 * time.Millisecond) {
		t.Fatal("wait with a request in the handler: got true, want false")
	}
	close(release)
	if !h.wait(5 * time.Second) {
		t.Fatal("wait after the request ended: got false, want true")
	}
	<-done
}
