//go:build !linux

package outbox

import "errors"

// fallocateFile is Linux-only; elsewhere the outbox rests on the reserve.
func fallocateFile(path string, size int64) error {
	return errors.ErrUnsupported
}
