package ops

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// NewID returns a random id with a type prefix, such as "org_9f2c...".
func NewID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newAPIKey returns a fresh client secret, "gk_" and 40 base62 characters
// (about 238 bits), its display prefix and the hex SHA-256 the fsm stores.
func newAPIKey() (secret, prefix, hash string) {
	var b [40]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, 0, 43)
	out = append(out, "gk_"...)
	for _, c := range b {
		// 248 is the largest multiple of 62 below 256; rejection keeps the
		// alphabet uniform.
		for c >= 248 {
			var r [1]byte
			_, _ = rand.Read(r[:])
			c = r[0]
		}
		out = append(out, base62[c%62])
	}
	secret = string(out)
	sum := sha256.Sum256(out)
	return secret, secret[:10], hex.EncodeToString(sum[:])
}
