package raftlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// errNotFound is what raft expects from a StableStore for a missing key; raft
// compares the text, so it must stay exactly "not found".
var errNotFound = errors.New("not found")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("raftlog: store closed")

// Store is a raft LogStore and StableStore backed by pebble.
type Store struct {
	db  *pebble.DB
	log *slog.Logger

	mu     sync.RWMutex // guards closed; held for reading by every operation
	closed bool

	// compactions asks the compactor goroutine to reclaim a deleted range;
	// it holds at most one pending request, later ones merge into it.
	compactions chan struct{}
	stopCompact context.CancelFunc
	compactDone chan struct{}
}

var (
	_ raft.LogStore          = (*Store)(nil)
	_ raft.StableStore       = (*Store)(nil)
	_ raft.MonotonicLogStore = (*Store)(nil)
)

// Options tunes a Store. The zero value is usable.
type Options struct {
	// Logger receives pebble's own log lines. Nil discards them.
	Logger *slog.Logger
	// CacheSize is pebble's block cache in bytes (default 8 MiB).
	CacheSize int64
}

// Open opens or creates the store in dir.
func Open(dir string, o Options) (*Store, error) {
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("component", "raftlog")
	cacheSize := o.CacheSize
	if cacheSize <= 0 {
		cacheSize = 8 << 20
	}
	cache := pebble.NewCache(cacheSize)
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:         cache,
		Logger:        pebbleLogger{lg},
		EventListener: (&backgroundErrors{log: lg}).listener(),
		// Raft log entries are written once and read rarely; a small
		// memtable keeps memory bounded on small nodes.
		MemTableSize: 16 << 20,
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open raft log %s: %w", dir, err)
	}
	s := &Store{db: db, log: lg, compactions: make(chan struct{}, 1), compactDone: make(chan struct{})}
	if err := s.checkFormat(); err != nil {
		_ = db.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopCompact = cancel
	go s.compactor(ctx)
	return s, nil
}

// compactor reclaims the space of deleted log ranges in the background, so
// DeleteRange (raft's log truncation after a snapshot) returns at fsync
// speed and the disk still shrinks.
func (s *Store) compactor(ctx context.Context) {
	defer close(s.compactDone)
	lo, hi := prefixBounds(prefixLog)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.compactions:
		}
		if err := s.db.Compact(ctx, lo, hi, false); err != nil && ctx.Err() == nil {
			s.log.Warn("compact raft log", "err", err)
		}
	}
}

func (s *Store) checkFormat() error {
	v, closer, err := s.db.Get(metaFormatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], formatVersion)
		if err := s.db.Set(metaFormatKey, b[:], pebble.Sync); err != nil {
			return fmt.Errorf("write raft log format version: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read raft log format version: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 || binary.BigEndian.Uint64(v) != formatVersion {
		return fmt.Errorf("raftlog: unsupported on-disk format %x", v)
	}
	return nil
}

// Close flushes and closes the database. It is safe to call twice.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.stopCompact()
	<-s.compactDone
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close raft log: %w", err)
	}
	return nil
}

// lock takes the read side of the close guard; the caller must call unlock
// when it returns nil.
func (s *Store) lock() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) unlock() { s.mu.RUnlock() }

// IsMonotonic tells raft that this store must not hold gaps in the log, so
// raft clears the log after installing a snapshot instead of leaving a gap.
func (s *Store) IsMonotonic() bool { return true }

// FirstIndex returns the first index written, or 0 for an empty log.
func (s *Store) FirstIndex() (uint64, error) {
	return s.edgeIndex(true)
}

// LastIndex returns the last index written, or 0 for an empty log.
func (s *Store) LastIndex() (uint64, error) {
	return s.edgeIndex(false)
}

func (s *Store) edgeIndex(first bool) (uint64, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.unlock()
	lo, hi := prefixBounds(prefixLog)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, fmt.Errorf("iterate raft log: %w", err)
	}
	defer it.Close()
	var ok bool
	if first {
		ok = it.First()
	} else {
		ok = it.Last()
	}
	if !ok {
		if err := it.Error(); err != nil {
			return 0, fmt.Errorf("iterate raft log: %w", err)
		}
		return 0, nil
	}
	return logIndex(it.Key()), nil
}

// GetLog reads the entry at index into out, or answers raft.ErrLogNotFound.
func (s *Store) GetLog(index uint64, out *raft.Log) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.unlock()
	v, closer, err := s.db.Get(logKey(index))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("read raft log %d: %w", index, err)
	}
	defer closer.Close()
	if err := decodeLog(v, out); err != nil {
		return fmt.Errorf("decode raft log %d: %w", index, err)
	}
	return nil
}

// StoreLog stores one entry, synced.
func (s *Store) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// StoreLogs stores entries in one atomic, synced batch.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.unlock()
	b := s.db.NewBatch()
	defer b.Close()
	var buf []byte
	for _, l := range logs {
		buf = encodeLog(buf[:0], l)
		if err := b.Set(logKey(l.Index), buf, nil); err != nil {
			return fmt.Errorf("stage raft log %d: %w", l.Index, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store %d raft logs: %w", len(logs), err)
	}
	return nil
}

// DeleteRange removes entries min through max inclusive, synced, and wakes
// the compactor to reclaim their space.
func (s *Store) DeleteRange(min, max uint64) error {
	if min > max {
		return nil
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.unlock()
	start := logKey(min)
	var end []byte
	if max == ^uint64(0) {
		_, end = prefixBounds(prefixLog)
	} else {
		end = logKey(max + 1)
	}
	if err := s.db.DeleteRange(start, end, pebble.Sync); err != nil {
		return fmt.Errorf("delete raft logs %d-%d: %w", min, max, err)
	}
	select {
	case s.compactions <- struct{}{}:
	default: // a compaction is already pending and will cover this range
	}
	return nil
}

// Set stores a stable key, synced.
func (s *Store) Set(key, val []byte) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.unlock()
	if err := s.db.Set(stableKey(key), val, pebble.Sync); err != nil {
		return fmt.Errorf("set stable key %q: %w", key, err)
	}
	return nil
}

// Get returns a stable key's value, or an error whose text is "not found".
func (s *Store) Get(key []byte) ([]byte, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.unlock()
	v, closer, err := s.db.Get(stableKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get stable key %q: %w", key, err)
	}
	defer closer.Close()
	out := make([]byte, len(v))
	copy(out, v)
	return out, nil
}

// SetUint64 stores a uint64 stable key, synced.
func (s *Store) SetUint64(key []byte, val uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], val)
	return s.Set(key, b[:])
}

// GetUint64 returns a uint64 stable key, or 0 and an error whose text is
// "not found".
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftlog: stable key %q holds %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// pebbleLogger routes pebble's log lines to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
