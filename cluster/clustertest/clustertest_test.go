package clustertest

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFreeAddrIsBindableAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		a := FreeAddr(t)
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("bind %s: %v", a, err)
		}
		l.Close()
	}
}

// TestFreeAddrLockedAcrossProcesses: a port this process handed out is
// refused to another process while this one lives.
func TestFreeAddrLockedAcrossProcesses(t *testing.T) {
	if p := os.Getenv("CLUSTERTEST_TRY_PORT"); p != "" {
		port, _ := strconv.Atoi(p)
		if f, ok := lockPort(port); ok {
			f.Close()
			os.Exit(3) // got a lock the parent holds
		}
		os.Exit(0)
	}
	a := FreeAddr(t)
	_, port, _ := strings.Cut(a, ":")
	if _, err := os.Stat(lockDir()); err != nil {
		t.Skipf("no lock dir: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFreeAddrLockedAcrossProcesses$")
	cmd.Env = append(os.Environ(), "CLUSTERTEST_TRY_PORT="+port)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("another process locked port %s this one holds: %v %s", port, err, out)
	}
}

func TestRetry(t *testing.T) {
	n := 0
	Retry(t, time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("called %d times, want 3", n)
	}
	start := time.Now()
	WaitFor(t, "a condition already true", time.Second, func() bool { return true })
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("WaitFor waited for a true condition")
	}
}
