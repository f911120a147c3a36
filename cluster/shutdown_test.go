package cluster

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestShutdownLeavesNoGoroutines: after Shutdown returns, nothing the node
// started is still running, even with notices queued and a removal (the
// leave RPC a removed node gets) racing the shutdown, and however often
// and from however many goroutines Shutdown is called.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a two-node cluster")
	}
	before := goleak.IgnoreCurrent()
	tc := newTestCluster(t, 2)
	got := make(chan string, 100)
	for _, tn := range tc.nodes {
		tn.node.Subscribe("test", func(from string, _ []byte) {
			select {
			case got <- from:
			default:
			}
		})
	}
	n1, n2 := tc.nodes["n1"].node, tc.nodes["n2"].node
	for range 50 {
		n1.Notify("test", []byte(`{}`))
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no notice arrived")
	}
	// n2 is told to leave (as when the leader removes it) while both
	// nodes shut down, each from several goroutines at once.
	n2.handleRPC(rpcRequest{Method: rpcLeave})
	for range 50 {
		n2.Notify("test", []byte(`{}`))
	}
	var wg sync.WaitGroup
	for range 3 {
		for _, n := range []*Node{n1, n2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = n.Shutdown()
			}()
		}
	}
	wg.Wait()
	goleak.VerifyNone(t, before)
	if n2.spawn(func() { t.Error("spawn ran a function after Shutdown") }) {
		t.Fatal("spawn accepted work after Shutdown")
	}
}
