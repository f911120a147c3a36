package raftlog

import (
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// countFSM counts applied commands; enough to see raft replay a log.
type countFSM struct {
	mu    sync.Mutex
	count int
}

func (f *countFSM) Apply(*raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count++
	return nil
}

func (f *countFSM) n() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, io.ErrUnexpectedEOF }
func (f *countFSM) Restore(io.ReadCloser) error         { return io.ErrUnexpectedEOF }
