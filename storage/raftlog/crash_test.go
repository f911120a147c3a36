package raftlog

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// The crash test runs the test binary itself as a child process that writes
// to the store in a loop, kills it with SIGKILL at a random moment, reopens
// the store and checks what survived.
const crashChildEnv = "TENSORGATE_RAFTLOG_CRASH_CHILD"

// entryData is a deterministic payload for (index, term), so the parent can
// verify every surviving entry byte for byte.
func entryData(index, term uint64) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], index)
	binary.BigEndian.PutUint64(b[8:], term)
	sum := sha256.Sum256(b[:])
	return sum[:8+int(index%24)]
}

// TestMain lets the test binary double as the crash child.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild appends batches, truncates suffixes (as raft does on a
// conflict), compacts prefixes (as raft does after a snapshot) and bumps a
// stable "term", printing every acknowledged operation on stdout.
func crashChild(dir string) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(2)
	}
	term, err := s.GetUint64([]byte("term"))
	if err != nil && err.Error() != "not found" {
		fmt.Println("get term error:", err)
		os.Exit(2)
	}
	last, _ := s.LastIndex()
	first, _ := s.FirstIndex()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	out := bufio.NewWriter(os.Stdout)
	for {
		switch op := rng.IntN(10); {
		case op < 6: // append a batch
			n := 1 + rng.IntN(64)
			batch := make([]*raft.Log, n)
			for i := range batch {
				idx := last + 1 + uint64(i)
				batch[i] = &raft.Log{Index: idx, Term: term + 1, Type: raft.LogCommand, Data: entryData(idx, term+1)}
			}
			if err := s.StoreLogs(batch); err != nil {
				fmt.Println("store error:", err)
				os.Exit(2)
			}
			last += uint64(n)
			if first == 0 {
				first = 1
			}
			fmt.Fprintf(out, "last %d\n", last)
		case op < 8: // truncate a suffix
			if last > first+10 {
				from := last - uint64(rng.IntN(10))
				// Announce the truncation first: if the kill lands after
				// it is durable but before the ack, the parent must not
				// expect the removed entries.
				fmt.Fprintf(out, "truncating %d\n", from)
				out.Flush()
				if err := s.DeleteRange(from, last); err != nil {
					fmt.Println("truncate error:", err)
					os.Exit(2)
				}
				last = from - 1
				fmt.Fprintf(out, "truncated %d\n", from)
			}
		case op < 9: // compact a prefix
			if last > first+100 {
				to := first + uint64(rng.IntN(50))
				if err := s.DeleteRange(first, to); err != nil {
					fmt.Println("compact error:", err)
					os.Exit(2)
				}
				first = to + 1
				fmt.Fprintf(out, "first %d\n", first)
			}
		default: // new term
			term++
			if err := s.SetUint64([]byte("term"), term); err != nil {
				fmt.Println("set term error:", err)
				os.Exit(2)
			}
			fmt.Fprintf(out, "term %d\n", term)
		}
		out.Flush()
	}
}

func TestCrashDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs child processes; skipped with -short")
	}
	dir := t.TempDir()
	rounds := 6
	for round := 0; round < rounds; round++ {
		acked := runCrashChild(t, dir, time.Duration(50+rand.IntN(250))*time.Millisecond)
		verifyAfterCrash(t, dir, acked)
	}
}

// ackedState is what the child reported as durable before it was killed.
type ackedState struct {
	term    uint64
	minLast uint64 // every acknowledged append up to here must survive...
	pending uint64 // ...unless a truncation from here was under way
}

func runCrashChild(t *testing.T, dir string, after time.Duration) ackedState {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(after, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	var st ackedState
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			t.Fatalf("child: %s", sc.Text())
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("child: %s", sc.Text())
		}
		switch f[0] {
		case "term":
			st.term = n
		case "last":
			st.minLast = n
		case "truncating":
			st.pending = n
		case "truncated":
			st.minLast, st.pending = n-1, 0
		}
	}
	_ = cmd.Wait()
	return st
}

func verifyAfterCrash(t *testing.T, dir string, acked ackedState) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()
	term, err := s.GetUint64([]byte("term"))
	if err != nil && err.Error() != "not found" {
		t.Fatalf("read term after crash: %v", err)
	}
	if term < acked.term {
		t.Fatalf("term after crash %d, acknowledged %d", term, acked.term)
	}
	first, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	want := acked.minLast
	if acked.pending != 0 && acked.pending-1 < want {
		want = acked.pending - 1
	}
	if last < want {
		t.Fatalf("last index after crash %d, acknowledged %d", last, want)
	}
	if first == 0 && last == 0 {
		return
	}
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			t.Fatalf("log not contiguous: GetLog(%d) in [%d,%d]: %v", i, first, last, err)
		}
		if l.Index != i || string(l.Data) != string(entryData(l.Index, l.Term)) {
			t.Fatalf("entry %d corrupt: %+v", i, l)
		}
	}
}
