package outbox

import (
	"os"
	"syscall"
)

// fallocateFile gives every byte of the file's first size bytes a disk
// block, without changing its contents or size.
func fallocateFile(path string, size int64) error {
	if size <= 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
		if err != syscall.EINTR {
			return err
		}
	}
}
