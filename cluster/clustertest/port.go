// Package clustertest holds helpers for tests that run nodes.
package clustertest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// FreeAddr returns a loopback address whose port is free for TCP and UDP
// now. Ports come from below Linux's ephemeral range (32768 and up), so
// the outgoing connections of other tests running at the same time, which
// take ephemeral ports, cannot grab it before the node binds it; a port
// is never handed out twice in one test binary.
func FreeAddr(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		port := 20000 + rand.N(12000)
		if given[port] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		given[port] = true
		return addr
	}
	t.Fatal("no free loopback port found")
	return ""
}
