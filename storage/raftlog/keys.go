package raftlog

import "encoding/binary"

// Key prefixes. Every record in the database starts with exactly one of these
// bytes; iterators are bounded to [prefix, prefix+1).
//
// Stored on disk: append only, never renumber.
const (
	prefixLog    byte = 0x01 // 0x01 | uint64 big-endian index -> encoded raft.Log
	prefixStable byte = 0x02 // 0x02 | key bytes -> value bytes
	prefixMeta   byte = 0x03 // 0x03 | name -> store metadata (format version)
)

// metaFormatKey records the on-disk format version of this store.
var metaFormatKey = append([]byte{prefixMeta}, "format"...)

// formatVersion is the current on-disk layout version.
const formatVersion = 1

func logKey(index uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], index)
	return k
}

func logIndex(key []byte) uint64 {
	return binary.BigEndian.Uint64(key[1:])
}

func stableKey(k []byte) []byte {
	out := make([]byte, 1+len(k))
	out[0] = prefixStable
	copy(out[1:], k)
	return out
}

// prefixBounds returns the [lower, upper) bounds covering every key with the
// given prefix.
func prefixBounds(p byte) (lower, upper []byte) {
	return []byte{p}, []byte{p + 1}
}
