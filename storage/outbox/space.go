package outbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/tensorgate/tensorgate/storage/diskguard"
)

// Space is what the outbox asks before each write. Check measures now
// and answers an error wrapping diskguard.ErrFull while the disk is below
// its reserve; the node's disk guard fills it in.
type Space interface {
	Check() error
}

// Why the outbox cannot die of SIGBUS on a full disk.
//
// Badger writes its memtable log (.mem) and value log (.vlog) through
// shared mmaps of files it sizes with ftruncate, i.e. sparse files: the
// first store to a page that has no disk block behind it makes the kernel
// allocate one, and when the filesystem has none left the process gets
// SIGBUS, which Go cannot recover from. Two rules keep every such store
// backed:
//
//  1. Every write the outbox makes (appends, cursors, trims) first gets a
//     fresh measurement from Space and is refused while the disk is below
//     its reserve; then backFiles fallocates every .mem, .vlog and DISCARD
//     file in the directory to its full size (once per file). fallocate
//     either reserves the blocks or fails with ENOSPC, which refuses the
//     write like a full disk: it never faults. So a write lands in a file
//     whose every page has its block, and no other process can take them.
//  2. The one store rule 1 does not pre-back is into a file badger creates
//     during that very write (a new memtable when the current one is
//     full). Such a file is at most 2 x MemTableSize, and the write only
//     began after a measurement of at least the reserve free, which the
//     node validates to be larger than that; the next write backs the new
//     file before using it again.
//
// Badger's other mmap writes are its tables (flushes, compactions), which
// are new files written whole; they need the reserve's room, which is why
// the outbox stops writing at the reserve rather than at zero. For the
// same reason Close skips badger's closing flush on a full disk: the
// memtable's log is already synced, and the next open replays it.
type backing struct {
	mu     sync.Mutex
	dir    string
	backed map[string]int64 // file name -> size fallocated
	// unsupported: the filesystem cannot fallocate; rule 1 then rests on
	// the reserve alone.
	unsupported bool
}

// backFiles fallocates the files badger maps that are not backed yet.
func (b *backing) backFiles() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unsupported {
		return nil
	}
	d, err := os.Open(b.dir)
	if err != nil {
		return fmt.Errorf("list outbox files: %w", err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("list outbox files: %w", err)
	}
	seen := make(map[string]bool, len(ents))
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".mem") && !strings.HasSuffix(name, ".vlog") && name != "DISCARD" {
			continue
		}
		seen[name] = true
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted by badger since the listing
		}
		if err != nil {
			return fmt.Errorf("stat outbox file %s: %w", name, err)
		}
		if b.backed[name] == info.Size() {
			continue
		}
		err = fallocateFile(filepath.Join(b.dir, name), info.Size())
		switch {
		case err == nil:
			b.backed[name] = info.Size()
		case errors.Is(err, os.ErrNotExist):
		case errors.Is(err, syscall.ENOSPC):
			return fmt.Errorf("back outbox file %s with disk blocks: %w: %w", name, diskguard.ErrFull, err)
		case errors.Is(err, errors.ErrUnsupported), errors.Is(err, syscall.EOPNOTSUPP):
			b.unsupported = true
			return nil
		default:
			return fmt.Errorf("back outbox file %s with disk blocks: %w", name, err)
		}
	}
	for name := range b.backed {
		if !seen[name] {
			delete(b.backed, name)
		}
	}
	return nil
}

// writable is asked before every write to badger (see the comment on
// backing). The refusal is logged once per change here; the disk guard
// logs the full disk itself.
func (o *Outbox) writable() error {
	var err error
	if o.space != nil {
		err = o.space.Check()
	}
	if err == nil {
		err = o.backing.backFiles()
	}
	if was := o.refusing.Swap(err != nil); was != (err != nil) {
		if err != nil {
			o.log.Warn("outbox refuses writes: no room on its disk", "err", err)
		} else {
			o.log.Info("outbox takes writes again")
		}
	}
	if err != nil {
		return fmt.Errorf("outbox: write refused: %w", err)
	}
	return nil
}

// closeFlushes reports whether Close may let badger flush its memtable.
func (o *Outbox) closeFlushes() bool {
	return o.space == nil || o.space.Check() == nil
}
