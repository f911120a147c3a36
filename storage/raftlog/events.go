package raftlog

import (
	"log/slog"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// backgroundErrors reports pebble's failing background work (flushes,
// compactions) once per run of failures rather than once per attempt.
//
// On a full disk pebble retries a failed flush at once, without backoff,
// and reports every attempt as a background error: logged one by one that
// was about 9,000 lines a second, and when it happens while pebble.Open
// replays the log (a node restarted on a full disk) Open waits for that
// flush and never returns. The node avoids the second case by opening its
// storage only once the disk has room; this keeps the first to two lines,
// one when the work starts failing and one when it succeeds again.
type backgroundErrors struct {
	log     *slog.Logger
	failing atomic.Bool
}

func (b *backgroundErrors) listener() *pebble.EventListener {
	ok := func(err error) {
		if err == nil && b.failing.Swap(false) {
			b.log.Info("raft log background work succeeds again")
		}
	}
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			if !b.failing.Swap(true) {
				b.log.Error("raft log background work is failing; pebble keeps retrying it", "err", err)
			}
		},
		FlushEnd:      func(info pebble.FlushInfo) { ok(info.Err) },
		CompactionEnd: func(info pebble.CompactionInfo) { ok(info.Err) },
	}
}
