package outbox

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestMappedFilesAreBacked checks the rule the outbox's SIGBUS safety
// rests on: once a write went through, every file badger writes through
// an mmap has a disk block behind each of its bytes.
func TestMappedFilesAreBacked(t *testing.T) {
	dir := t.TempDir()
	o := openTest(t, dir)
	if _, err := o.Append(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	mapped := 0
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".mem") && !strings.HasSuffix(e.Name(), ".vlog") {
			continue
		}
		mapped++
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		st := info.Sys().(*syscall.Stat_t)
		if allocated := st.Blocks * 512; allocated < info.Size() {
			t.Errorf("%s: %d bytes long but only %d backed by disk blocks", e.Name(), info.Size(), allocated)
		}
	}
	if mapped < 2 {
		t.Fatalf("found %d memtable and value log files, want at least 2", mapped)
	}
}
