// Package outbox is a node's durable queue of billing and audit events,
// on dgraph-io/badger under the data dir.
//
// Append returns only once the event is on disk. Concurrent appends are
// group-committed: one goroutine writes everything that arrived while the
// previous batch was syncing in one batch and one fsync, so the cost per
// event falls as load rises. Each sink ships events in order and records
// how far it got with Ack; events every sink has acknowledged are deleted.
package outbox

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/tensorgate/tensorgate/storage/diskguard"
)

// Key layout. Stored on disk: append only, never renumber.
const (
	prefixEvent  byte = 'e'   // 'e' | seq (8 bytes big-endian) -> event
	prefixCursor byte = 'c'   // 'c' | sink name -> seq (8 bytes)
	keyID             = "mid" // the outbox's random id, set at creation
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("outbox: closed")

// Options tunes an Outbox.
type Options struct {
	Logger *slog.Logger
	// MaxBatch bounds the events of one group commit.
	MaxBatch int
	// Retain is how many of the newest shipped events stay for local
	// queries (default 100,000). With no sink registered every event
	// counts as shipped. Unshipped events are never deleted here.
	Retain uint64
	// MaxBytes is the backlog, in bytes of events some sink has not
	// shipped yet, at which Full reports true (default 4 GiB). The outbox
	// never refuses or drops an event itself: what to do when full is
	// the caller's policy.
	MaxBytes int64
	// Now is the clock stamped on appended events (default time.Now).
	Now func() time.Time
	// Space, when set, is asked before every write; while it reports the
	// disk full the outbox refuses to open or write (see space.go).
	Space Space
}

// Record is one stored event.
type Record struct {
	Seq      uint64
	Appended time.Time // when the outbox stored it (zero for old records)
	Data     []byte
}

// valueV1 marks a stored value: 1 byte version, 8 bytes append time (Unix
// nanoseconds, big-endian), then the event. Values written before the
// header existed start with the event's '{'.
const valueV1 byte = 1

// valueHeader is the size of a value's header.
const valueHeader = 9

func encodeValue(t time.Time, data []byte) []byte {
	v := make([]byte, valueHeader+len(data))
	v[0] = valueV1
	binary.BigEndian.PutUint64(v[1:valueHeader], uint64(t.UnixNano()))
	copy(v[valueHeader:], data)
	return v
}

func decodeValue(seq uint64, v []byte) Record {
	if len(v) >= valueHeader && v[0] == valueV1 {
		return Record{Seq: seq, Appended: time.Unix(0, int64(binary.BigEndian.Uint64(v[1:valueHeader]))), Data: v[valueHeader:]}
	}
	return Record{Seq: seq, Data: v}
}

type appendReq struct {
	data []byte
	done chan appendRes
}

type appendRes struct {
	seq uint64
	err error
}

// Outbox is the durable event queue.
type Outbox struct {
	db       *badger.DB
	log      *slog.Logger
	reqs     chan appendReq
	stop     chan struct{}
	done     chan struct{}
	trimReq  chan struct{} // wakes the trimmer; buffered, one slot
	trimDone chan struct{}
	maxB     int
	retain   uint64
	trimmed  uint64     // events up to here are deleted (guarded by mu)
	mu       sync.Mutex // guards next and the sinks' cursors
	next     uint64     // the seq of the next event
	cursors  map[string]uint64
	pending  map[string]int64 // bytes each sink has yet to ship
	changed  chan struct{}    // closed and replaced at each commit
	maxBytes int64
	now      func() time.Time
	metrics  *metrics
	full     atomic.Bool
	id       string
	space    Space
	backing  backing
	refusing atomic.Bool // the last write was refused for want of room
	// gate keeps Append from queueing after Close has drained the queue.
	gate     sync.RWMutex
	isClosed bool
	closed   sync.Once
}

// Open opens or creates the outbox in dir.
func Open(dir string, o Options) (*Outbox, error) {
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("component", "outbox")
	if o.Space != nil {
		// Opening writes: a new memtable file, a replayed one flushed.
		if err := o.Space.Check(); err != nil {
			return nil, fmt.Errorf("open outbox %s: %w", dir, err)
		}
	}
	bo := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithSyncWrites(true). // one synced commit per batch
		WithNumVersionsToKeep(1).
		WithMemTableSize(16 << 20).
		// Value log files are fallocated in full (space.go), so they are
		// kept small: events rarely reach the 1 MiB that sends a value
		// there, and no event may exceed this size.
		WithValueLogFileSize(16 << 20).
		WithNumCompactors(2).
		WithDetectConflicts(false) // one writer: the committer
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", dir, err)
	}
	ob := &Outbox{db: db, log: lg, reqs: make(chan appendReq, 4096), stop: make(chan struct{}), done: make(chan struct{}),
		trimReq: make(chan struct{}, 1), trimDone: make(chan struct{}),
		maxB: o.MaxBatch, cursors: map[string]uint64{}, pending: map[string]int64{}, changed: make(chan struct{}),
		maxBytes: o.MaxBytes, now: o.Now, metrics: newMetrics(),
		space: o.Space, backing: backing{dir: dir, backed: map[string]int64{}}}
	if ob.maxBytes <= 0 {
		ob.maxBytes = 4 << 30
	}
	if ob.now == nil {
		ob.now = time.Now
	}
	if ob.maxB <= 0 {
		ob.maxB = 1024
	}
	ob.retain = o.Retain
	if ob.retain == 0 {
		ob.retain = 100_000
	}
	if err := ob.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := ob.loadID(); err != nil {
		_ = db.Close()
		return nil, err
	}
	go ob.committer()
	go ob.trimmer()
	return ob, nil
}

// loadID reads the outbox's id, creating it on first open.
func (o *Outbox) loadID() error {
	return o.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(keyID))
		if err == nil {
			v, err := it.ValueCopy(nil)
			o.id = string(v)
			return err
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("outbox: read id: %w", err)
		}
		if err := o.writable(); err != nil {
			return err
		}
		var b [12]byte
		if _, err := crand.Read(b[:]); err != nil {
			return err
		}
		o.id = hex.EncodeToString(b[:])
		return txn.Set([]byte(keyID), []byte(o.id))
	})
}

// ID names this outbox's stream of events: random, made when the outbox
// was created, so sequence numbers from a wiped and recreated data
// directory are never mistaken for ones already seen.
func (o *Outbox) ID() string { return o.id }

// Next is the seq the next appended event takes: every event appended
// after the call has this seq or a later one.
func (o *Outbox) Next() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.next
}

// load recovers the next sequence number, the sinks' cursors and where
// trimming stopped.
func (o *Outbox) load() error {
	return o.db.View(func(txn *badger.Txn) error {
		fit := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEvent}})
		fit.Rewind()
		if fit.Valid() {
			o.trimmed = binary.BigEndian.Uint64(fit.Item().Key()[1:]) - 1
		}
		fit.Close()
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte{prefixEvent}})
		defer it.Close()
		it.Seek([]byte{prefixEvent, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		if it.Valid() {
			o.next = binary.BigEndian.Uint64(it.Item().Key()[1:]) + 1
		}
		cit := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{prefixCursor}})
		defer cit.Close()
		for cit.Rewind(); cit.Valid(); cit.Next() {
			v, err := cit.Item().ValueCopy(nil)
			if err != nil || len(v) != 8 {
				return fmt.Errorf("outbox: bad cursor %q", cit.Item().Key())
			}
			c := binary.BigEndian.Uint64(v)
			o.cursors[string(cit.Item().Key()[1:])] = c
			o.pending[string(cit.Item().Key()[1:])] = 0
			if c+1 > o.next {
				o.next = c + 1
			}
		}
		if o.next == 0 {
			o.next = 1
		}
		return o.loadPending(txn)
	})
}

// loadPending sums, for each sink, the size of the events it has not
// shipped yet.
func (o *Outbox) loadPending(txn *badger.Txn) error {
	if len(o.cursors) == 0 {
		return nil
	}
	low := o.minCursor()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEvent}})
	defer it.Close()
	for it.Seek(eventKey(low + 1)); it.Valid(); it.Next() {
		seq := binary.BigEndian.Uint64(it.Item().Key()[1:])
		size := it.Item().ValueSize()
		for sink, c := range o.cursors {
			if seq > c {
				o.pending[sink] += size
			}
		}
	}
	o.updateFull()
	return nil
}

func eventKey(seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixEvent
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

// Append stores an event and returns its sequence number once it is
// durable.
func (o *Outbox) Append(ctx context.Context, data []byte) (uint64, error) {
	req := appendReq{data: data, done: make(chan appendRes, 1)}
	o.gate.RLock()
	if o.isClosed {
		o.gate.RUnlock()
		return 0, ErrClosed
	}
	select {
	case o.reqs <- req:
	case <-ctx.Done():
		o.gate.RUnlock()
		return 0, ctx.Err()
	}
	o.gate.RUnlock()
	// Once queued the write happens; wait for it even if ctx ends, so the
	// caller never reports as lost what was in fact stored.
	res := <-req.done
	return res.seq, res.err
}

// committer writes queued appends in batches, one fsync per batch.
func (o *Outbox) committer() {
	defer close(o.done)
	batch := make([]appendReq, 0, o.maxB)
	for {
		batch = batch[:0]
		select {
		case r := <-o.reqs:
			batch = append(batch, r)
		case <-o.stop:
			o.drain()
			return
		}
	fill:
		for len(batch) < o.maxB {
			select {
			case r := <-o.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		o.commit(batch)
	}
}

// drain commits whatever is still queued at Close.
func (o *Outbox) drain() {
	for {
		select {
		case r := <-o.reqs:
			o.commit([]appendReq{r})
		default:
			return
		}
	}
}

func (o *Outbox) commit(batch []appendReq) {
	if err := o.writable(); err != nil {
		// Refused before a sequence number is taken: no gap, no log line
		// per batch (writable logs the change).
		for _, r := range batch {
			r.done <- appendRes{err: err}
		}
		return
	}
	o.mu.Lock()
	first := o.next
	o.next += uint64(len(batch))
	o.mu.Unlock()
	txn := o.db.NewTransaction(true)
	var (
		err   error
		bytes int64
		now   = o.now()
	)
	for i, r := range batch {
		key := eventKey(first + uint64(i))
		v := encodeValue(now, r.data)
		bytes += int64(len(v))
		err = txn.Set(key, v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			// A batch larger than one transaction: commit what fits and
			// go on in a new one. Nobody is answered before the last
			// commit, so the batch is still all-or-reported.
			if err = txn.Commit(); err != nil {
				break
			}
			txn = o.db.NewTransaction(true)
			err = txn.Set(key, v)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = txn.Commit() // synced: SyncWrites is on
	} else {
		txn.Discard()
	}
	if err != nil {
		err = fmt.Errorf("append %d events to the outbox: %w", len(batch), err)
		o.log.Error("outbox write failed", "err", err)
	}
	if err == nil {
		// Count the backlog before answering, so a caller whose Append
		// returned sees its own event in Backlog and Full.
		o.mu.Lock()
		for sink := range o.pending {
			o.pending[sink] += bytes
		}
		o.updateFull()
		close(o.changed)
		o.changed = make(chan struct{})
		o.mu.Unlock()
		select {
		case o.trimReq <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	for i, r := range batch {
		r.done <- appendRes{seq: first + uint64(i), err: err}
	}
	if testHookAnswered != nil {
		testHookAnswered()
	}
}

// testHookAnswered, when set by a test, runs after a batch's callers are
// answered, widening the window in which they look at the outbox.
var testHookAnswered func()

// trimmer deletes shipped events off the committer's path, so appends
// never wait behind a deletion.
func (o *Outbox) trimmer() {
	defer close(o.trimDone)
	for {
		select {
		case <-o.trimReq:
			o.trim()
		case <-o.stop:
			return
		}
	}
}

// Changed returns a channel closed at the next commit.
func (o *Outbox) Changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

// Full reports whether some sink's backlog has reached MaxBytes. It is
// cheap: the data plane asks on every request.
func (o *Outbox) Full() bool { return o.full.Load() }

// updateFull recomputes Full after the backlog changed; o.mu is held.
func (o *Outbox) updateFull() {
	var worst int64
	sink := ""
	for s, b := range o.pending {
		if b > worst {
			worst, sink = b, s
		}
	}
	full := worst >= o.maxBytes
	if o.full.Swap(full) == full {
		return
	}
	if full {
		o.log.Error("outbox is full: a sink is not keeping up; the node follows its outbox-full policy",
			"sink", sink, "pending_bytes", worst, "max_bytes", o.maxBytes)
	} else {
		o.log.Info("outbox has room again", "max_bytes", o.maxBytes)
	}
}

// trim deletes shipped events beyond the retention, in chunks so a long
// backlog never stalls the committer for long.
func (o *Outbox) trim() {
	o.mu.Lock()
	last, from := o.next-1, o.trimmed
	upto := min(last-min(last, o.retain), o.minCursor())
	o.mu.Unlock()
	if last <= o.retain || upto <= from || upto-from < 1024 {
		return
	}
	upto = min(upto, from+8192)
	// Only this goroutine moves trimmed, so the range stays ours while the
	// lock is released for the write.
	if err := o.deleteUpTo(from, upto); err != nil {
		if !errors.Is(err, diskguard.ErrFull) { // logged once, by writable
			o.log.Warn("trim outbox", "err", err)
		}
		return
	}
	o.mu.Lock()
	o.trimmed = upto
	o.mu.Unlock()
}

// Read returns up to max events after seq, in order.
func (o *Outbox) Read(after uint64, max int) ([]Record, error) {
	var out []Record
	err := o.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: min(max, 256), Prefix: []byte{prefixEvent}})
		defer it.Close()
		for it.Seek(eventKey(after + 1)); it.Valid() && len(out) < max; it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, decodeValue(binary.BigEndian.Uint64(it.Item().Key()[1:]), v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read outbox after %d: %w", after, err)
	}
	return out, nil
}

// Register adds a sink; its cursor starts at the current end unless it
// already has one, so a new sink ships only new events.
func (o *Outbox) Register(sink string) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c, ok := o.cursors[sink]; ok {
		return c, nil
	}
	c := o.next - 1
	if err := o.putCursor(sink, c); err != nil {
		return 0, err
	}
	o.cursors[sink] = c
	o.pending[sink] = 0
	return c, nil
}

// Unregister forgets a sink, so its backlog no longer holds events back.
func (o *Outbox) Unregister(sink string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := append([]byte{prefixCursor}, sink...)
	if err := o.writable(); err != nil {
		return fmt.Errorf("remove outbox cursor of %s: %w", sink, err)
	}
	if err := o.db.Update(func(txn *badger.Txn) error { return txn.Delete(key) }); err != nil {
		return fmt.Errorf("remove outbox cursor of %s: %w", sink, err)
	}
	delete(o.cursors, sink)
	delete(o.pending, sink)
	o.updateFull()
	return nil
}

// Ack records that sink has shipped everything up to seq, bytes of stored
// events since its last Ack. Shipped events stay, for local queries,
// until the retention trims them.
func (o *Outbox) Ack(sink string, seq uint64, bytes int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if cur, ok := o.cursors[sink]; !ok || seq <= cur {
		if !ok {
			return fmt.Errorf("outbox: unknown sink %q", sink)
		}
		return nil
	}
	if err := o.putCursor(sink, seq); err != nil {
		return err
	}
	o.cursors[sink] = seq
	o.pending[sink] -= bytes // may dip below zero until the commit that wrote them counts them
	o.updateFull()
	return nil
}

func (o *Outbox) putCursor(sink string, seq uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], seq)
	key := append([]byte{prefixCursor}, sink...)
	if err := o.writable(); err != nil {
		return fmt.Errorf("save outbox cursor of %s: %w", sink, err)
	}
	if err := o.db.Update(func(txn *badger.Txn) error { return txn.Set(key, v[:]) }); err != nil {
		return fmt.Errorf("save outbox cursor of %s: %w", sink, err)
	}
	return nil
}

func (o *Outbox) minCursor() uint64 {
	m := ^uint64(0)
	for _, c := range o.cursors {
		m = min(m, c)
	}
	return m
}

// deleteUpTo removes events in (from, to].
func (o *Outbox) deleteUpTo(from, to uint64) error {
	if to == ^uint64(0) || to <= from {
		return nil
	}
	if err := o.writable(); err != nil {
		return fmt.Errorf("delete shipped events: %w", err)
	}
	wb := o.db.NewWriteBatch()
	for s := from + 1; s <= to; s++ {
		if err := wb.Delete(eventKey(s)); err != nil {
			wb.Cancel()
			return fmt.Errorf("delete shipped events: %w", err)
		}
	}
	return wb.Flush()
}

// Stats describes the backlog of one sink.
type Stats struct {
	Pending      uint64 // events not yet shipped by the sink
	PendingBytes int64  // their stored size
	Cursor       uint64 // the last event it shipped
	Next         uint64 // the seq the next event will get
}

// Backlog reports how far sink is behind.
func (o *Outbox) Backlog(sink string) Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.cursors[sink]
	return Stats{Pending: o.next - 1 - c, PendingBytes: o.pending[sink], Cursor: c, Next: o.next}
}

// Sinks lists the registered sinks.
func (o *Outbox) Sinks() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.cursors))
	for s := range o.cursors {
		out = append(out, s)
	}
	return out
}

// Close commits what is queued and closes the database.
func (o *Outbox) Close() error {
	var err error
	o.closed.Do(func() {
		o.gate.Lock()
		o.isClosed = true
		o.gate.Unlock()
		close(o.stop)
		select {
		case <-o.done:
		case <-time.After(30 * time.Second):
			o.log.Error("outbox committer did not stop")
		}
		<-o.trimDone
		if !o.closeFlushes() {
			// Badger's close flushes the memtable into a new table
			// through an mmap, which on a full disk would SIGBUS. Every
			// append is already synced in the memtable's log, which the
			// next open replays; the process is on its way out.
			o.log.Warn("disk full at close: the outbox's memtable stays in its log for the next start to replay")
			return
		}
		err = o.db.Close()
	})
	return err
}

// ScanBack calls fn with stored events newest first, from before
// (exclusive; 0 for the newest), until fn returns false.
func (o *Outbox) ScanBack(before uint64, fn func(seq uint64, data []byte) bool) error {
	if before == 0 {
		before = ^uint64(0)
	}
	return o.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, PrefetchValues: true, PrefetchSize: 256, Prefix: []byte{prefixEvent}})
		defer it.Close()
		for it.Seek(eventKey(before - 1)); it.Valid(); it.Next() {
			seq := binary.BigEndian.Uint64(it.Item().Key()[1:])
			var keep bool
			err := it.Item().Value(func(v []byte) error {
				keep = fn(seq, decodeValue(seq, v).Data)
				return nil
			})
			if err != nil {
				return fmt.Errorf("scan outbox: %w", err)
			}
			if !keep {
				return nil
			}
		}
		return nil
	})
}
