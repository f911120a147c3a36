package gateway

import (
	"crypto/rand"
	"encoding/hex"
)

// newRequestID returns a fresh id; it keys the call's audit record, so it
// is generated here and never taken from the client.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	var out [4 + 32]byte
	copy(out[:], "req_")
	hex.Encode(out[4:], b[:])
	return string(out[:])
}
