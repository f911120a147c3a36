// Package clustertest holds helpers for tests that run nodes: free
// loopback addresses that no other test process hands out, a polling
// wait with a deadline, and a register model for checking histories for
// linearizability.
package clustertest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
	// held keeps the lock files of the ports this process handed out
	// open, so their locks last as long as the test binary.
	held []*os.File
)

// FreeAddr returns a loopback address whose port is free for TCP and UDP
// now. Ports come from below Linux's ephemeral range (32768 and up), so
// the outgoing connections of other tests running at the same time, which
// take ephemeral ports, cannot grab it before the node binds it. A port
// is never handed out twice in one test binary, nor to two test binaries
// at once: each port handed out is locked (a lock file per port in the
// temp dir, see lockPort) until this process exits, so packages tested in
// parallel cannot collide between the probe and the bind.
func FreeAddr(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		port := 20000 + rand.N(12000)
		if given[port] {
			continue
		}
		f, ok := lockPort(port)
		if !ok {
			continue // another test process has it
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if !bindable(addr) {
			f.Close()
			continue
		}
		given[port] = true
		held = append(held, f)
		return addr
	}
	t.Fatal("no free loopback port found")
	return ""
}

// bindable reports whether addr is free for TCP and UDP now.
func bindable(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	u, err := net.ListenPacket("udp", addr)
	l.Close()
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// lockDir holds one lock file per port handed out by any test process of
// any user on this machine.
func lockDir() string { return filepath.Join(os.TempDir(), "tensorgate-test-ports") }

// lockPort takes this process's exclusive lock on port and returns the
// open lock file that holds it; false when another process holds it. The
// lock is the kernel's (flock), so a process that dies releases its
// ports and no stale file ever blocks one.
func lockPort(port int) (*os.File, bool) {
	dir := lockDir()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, true // no lock dir: fall back to probing alone
	}
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(port)), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, true
	}
	if !tryLock(f) {
		f.Close()
		return nil, false
	}
	return f, true
}
