package outbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tensorgate/tensorgate/storage/diskguard"
)

// fakeSpace is a disk whose fullness the test sets.
type fakeSpace struct {
	mu     sync.Mutex
	full   bool
	checks int
}

func (f *fakeSpace) set(full bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.full = full
}

func (f *fakeSpace) Check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	if f.full {
		return &diskguard.FullError{Dir: "/data", Free: 10, Reserve: 100}
	}
	return nil
}

func TestAppendRefusedWhileFullAndResumedAfter(t *testing.T) {
	space := &fakeSpace{}
	o, err := Open(t.TempDir(), Options{Space: space})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { space.set(false); _ = o.Close() })
	if _, err := o.Register("pg"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if s, err := o.Append(ctx, []byte("before")); err != nil || s != 1 {
		t.Fatalf("append with room: %d, %v", s, err)
	}

	space.set(true)
	for range 5 {
		if _, err := o.Append(ctx, []byte("refused")); !errors.Is(err, diskguard.ErrFull) {
			t.Fatalf("append on a full disk: %v, want diskguard.ErrFull", err)
		}
	}
	if err := o.Ack("pg", 1, 0); !errors.Is(err, diskguard.ErrFull) {
		t.Fatalf("cursor write on a full disk: %v, want diskguard.ErrFull", err)
	}

	space.set(false)
	s, err := o.Append(ctx, []byte("after"))
	if err != nil {
		t.Fatalf("append once space is back: %v", err)
	}
	// Refused appends took no sequence number: the stream has no gap.
	if s != 2 {
		t.Fatalf("seq after the refusals %d, want 2", s)
	}
	recs, err := o.Read(0, 10)
	if err != nil || len(recs) != 2 || string(recs[0].Data) != "before" || string(recs[1].Data) != "after" {
		t.Fatalf("stored events %v, %v", recs, err)
	}
	if err := o.Ack("pg", 2, 0); err != nil {
		t.Fatalf("cursor write once space is back: %v", err)
	}
}

func TestOpenRefusedOnFullDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	_, err := Open(dir, Options{Space: &fakeSpace{full: true}})
	if !errors.Is(err, diskguard.ErrFull) {
		t.Fatalf("open on a full disk: %v, want diskguard.ErrFull", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("open on a full disk created %s (%v)", dir, err)
	}
}
