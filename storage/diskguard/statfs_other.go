//go:build !unix

package diskguard

import "errors"

// statfs is not implemented here: the guard then never reports full.
func statfs(dir string) (int64, error) {
	return 0, errors.New("diskguard: free space is not measurable on this platform")
}
