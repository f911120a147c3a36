package raftlog

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testLog(idx uint64, data string) *raft.Log {
	return &raft.Log{
		Index:      idx,
		Term:       idx/10 + 1,
		Type:       raft.LogCommand,
		Data:       []byte(data),
		Extensions: []byte("ext"),
		AppendedAt: time.Unix(1700000000, int64(idx)),
	}
}

func TestEmptyStore(t *testing.T) {
	s := openTest(t)
	first, err := s.FirstIndex()
	if err != nil || first != 0 {
		t.Fatalf("FirstIndex = %d, %v; want 0, nil", first, err)
	}
	last, err := s.LastIndex()
	if err != nil || last != 0 {
		t.Fatalf("LastIndex = %d, %v; want 0, nil", last, err)
	}
	var l raft.Log
	if err := s.GetLog(1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog on empty store = %v, want raft.ErrLogNotFound", err)
	}
}

func TestStoreAndGetLogs(t *testing.T) {
	s := openTest(t)
	var logs []*raft.Log
	for i := uint64(1); i <= 30; i++ {
		logs = append(logs, testLog(i, fmt.Sprintf("entry-%d", i)))
	}
	if err := s.StoreLog(logs[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(logs[1:]); err != nil {
		t.Fatal(err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 1 || last != 30 {
		t.Fatalf("first, last = %d, %d; want 1, 30", first, last)
	}
	for _, want := range logs {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", want.Index, err)
		}
		if diff := cmp.Diff(*want, got); diff != "" {
			t.Fatalf("GetLog(%d) mismatch (-want +got):\n%s", want.Index, diff)
		}
	}
	// Overwriting an index (raft does this when it truncates a conflicting
	// suffix) replaces the entry.
	repl := testLog(30, "replacement")
	repl.Term = 99
	if err := s.StoreLogs([]*raft.Log{repl}); err != nil {
		t.Fatal(err)
	}
	var got raft.Log
	if err := s.GetLog(30, &got); err != nil || got.Term != 99 || string(got.Data) != "replacement" {
		t.Fatalf("after overwrite GetLog(30) = %+v, %v", got, err)
	}
}

func TestDeleteRange(t *testing.T) {
	tests := []struct {
		name        string
		min, max    uint64
		first, last uint64
	}{
		{"prefix", 1, 10, 11, 20},
		{"suffix", 15, 20, 1, 14},
		{"all", 1, 20, 0, 0},
		{"beyond", 5, ^uint64(0), 1, 4},
		{"inverted is a no-op", 10, 5, 1, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			var logs []*raft.Log
			for i := uint64(1); i <= 20; i++ {
				logs = append(logs, testLog(i, "x"))
			}
			if err := s.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteRange(tc.min, tc.max); err != nil {
				t.Fatal(err)
			}
			first, _ := s.FirstIndex()
			last, _ := s.LastIndex()
			if first != tc.first || last != tc.last {
				t.Fatalf("first, last = %d, %d; want %d, %d", first, last, tc.first, tc.last)
			}
			var l raft.Log
			if tc.min <= tc.max {
				if err := s.GetLog(tc.min, &l); !errors.Is(err, raft.ErrLogNotFound) {
					t.Fatalf("GetLog(%d) after delete = %v, want ErrLogNotFound", tc.min, err)
				}
			}
		})
	}
}

func TestStableStore(t *testing.T) {
	s := openTest(t)
	_, err := s.Get([]byte("missing"))
	if err == nil || err.Error() != "not found" {
		t.Fatalf("Get(missing) = %v, want error with text %q", err, "not found")
	}
	v, err := s.GetUint64([]byte("missing"))
	if err == nil || err.Error() != "not found" || v != 0 {
		t.Fatalf("GetUint64(missing) = %d, %v; want 0, not found", v, err)
	}
	if err := s.Set([]byte("CurrentTerm"), []byte("abc")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get([]byte("CurrentTerm"))
	if err != nil || !bytes.Equal(got, []byte("abc")) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := s.SetUint64([]byte("LastVoteTerm"), 42); err != nil {
		t.Fatal(err)
	}
	n, err := s.GetUint64([]byte("LastVoteTerm"))
	if err != nil || n != 42 {
		t.Fatalf("GetUint64 = %d, %v; want 42", n, err)
	}
}

// TestPrefixesAreDisjoint checks that stable keys never show up as log
// entries and the log's bounds ignore everything else in the database.
func TestPrefixesAreDisjoint(t *testing.T) {
	s := openTest(t)
	// A stable key whose bytes look like a big log index.
	if err := s.Set([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs([]*raft.Log{testLog(5, "a"), testLog(6, "b")}); err != nil {
		t.Fatal(err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 5 || last != 6 {
		t.Fatalf("first, last = %d, %d; want 5, 6", first, last)
	}
	if err := s.DeleteRange(1, ^uint64(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}); err != nil {
		t.Fatalf("stable key lost after deleting the whole log: %v", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs([]*raft.Log{testLog(1, "a"), testLog(2, "b")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.LastIndex(); !errors.Is(err, ErrClosed) {
		t.Fatalf("LastIndex after Close = %v, want ErrClosed", err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	last, _ := s.LastIndex()
	term, _ := s.GetUint64([]byte("CurrentTerm"))
	if last != 2 || term != 7 {
		t.Fatalf("after reopen last=%d term=%d; want 2, 7", last, term)
	}
}

// TestRaftRunsOnStore runs a real single-node raft on the store, restarts it
// and checks that it resumes with its log and term.
func TestRaftRunsOnStore(t *testing.T) {
	dir := t.TempDir()
	run := func(bootstrap bool, applies int) (uint64, int) {
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		conf := raft.DefaultConfig()
		conf.LocalID = "n1"
		conf.HeartbeatTimeout = 50 * time.Millisecond
		conf.ElectionTimeout = 50 * time.Millisecond
		conf.LeaderLeaseTimeout = 50 * time.Millisecond
		conf.CommitTimeout = 5 * time.Millisecond
		conf.LogOutput = &bytes.Buffer{}
		addr, trans := raft.NewInmemTransport("n1")
		fsm := &countFSM{}
		r, err := raft.NewRaft(conf, fsm, s, s, raft.NewInmemSnapshotStore(), trans)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.Shutdown().Error() }()
		if bootstrap {
			cfg := raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: addr}}}
			if err := r.BootstrapCluster(cfg).Error(); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for r.State() != raft.Leader {
			if time.Now().After(deadline) {
				t.Fatal("no leader")
			}
			time.Sleep(10 * time.Millisecond)
		}
		for i := 0; i < applies; i++ {
			if err := r.Apply([]byte("x"), time.Second).Error(); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Barrier(time.Second).Error(); err != nil {
			t.Fatal(err)
		}
		return r.LastIndex(), fsm.n()
	}
	last1, n1 := run(true, 20)
	if n1 != 20 {
		t.Fatalf("applied %d commands, want 20", n1)
	}
	last2, n2 := run(false, 5)
	if last2 <= last1 {
		t.Fatalf("last index after restart %d, want > %d", last2, last1)
	}
	if n2 != 25 {
		t.Fatalf("after restart fsm replayed %d commands, want 25", n2)
	}
}

// TestDeleteRangeReclaimsSpace fills the log, deletes it and checks that the
// background compaction brings the on-disk size back down.
func TestDeleteRangeReclaimsSpace(t *testing.T) {
	s := openTest(t)
	data := bytes.Repeat([]byte("x"), 4096)
	var batch []*raft.Log
	for i := uint64(1); i <= 8000; i++ {
		batch = append(batch, &raft.Log{Index: i, Term: 1, Data: data})
		if len(batch) == 500 {
			if err := s.StoreLogs(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	// Live sstable bytes: the WAL is recycled, not shrunk, so it is left out.
	live := func() uint64 { return s.db.Metrics().Table.Local.LiveSize }
	full := live()
	if err := s.DeleteRange(1, 7990); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for live() > full/4 {
		if time.Now().After(deadline) {
			t.Fatalf("live sstables %d bytes after deleting 99.9%% of a %d-byte log", live(), full)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
