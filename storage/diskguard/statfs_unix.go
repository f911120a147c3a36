//go:build unix

package diskguard

import (
	"fmt"
	"syscall"
)

// statfs answers the space available to unprivileged writers (f_bavail),
// which is what the node's writes may use.
func statfs(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
