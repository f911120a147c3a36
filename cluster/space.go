package cluster

import (
	"fmt"

	"github.com/tensorgate/tensorgate/storage/diskguard"
)

// Space reports whether the node's disk is below its reserve: Full is the
// cheap look, Err the reason (an error wrapping diskguard.ErrFull).
type Space interface {
	Full() bool
	Err() error
}

// leaderFull is the leader's full disk as a forwarding node sees it: it
// wraps diskguard.ErrFull, so callers answer it as their own (503
// storage_full).
type leaderFull struct{ msg string }

func (e *leaderFull) Error() string { return "refused the write: " + e.msg }
func (e *leaderFull) Unwrap() error { return diskguard.ErrFull }

// roomToWrite refuses a new write while this node's disk is below its
// reserve, with an error that says so, so the caller (an admin write, the
// usage sink, a quota grant) fails clearly and retries later.
//
// Only new proposals are refused. Raft's own small writes (term and vote,
// an election's no-op, read barriers) still go to the raft log, whose
// write-ahead log pebble preallocates; refusing them would not save space
// but would crash raft (it panics when it cannot store its term) or have
// a lone leader step down and re-elect itself over and over.
func (n *Node) roomToWrite() error {
	if n.cfg.Space == nil || !n.cfg.Space.Full() {
		return nil
	}
	if err := n.cfg.Space.Err(); err != nil {
		return fmt.Errorf("cluster: refuse a write on a full disk: %w", err)
	}
	return nil
}
