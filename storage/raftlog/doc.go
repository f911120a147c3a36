// Package raftlog implements hashicorp/raft's LogStore and StableStore on a
// single cockroachdb/pebble database.
//
// Key layout (see keys.go) keeps log entries, stable keys and any future
// records under disjoint one-byte prefixes, and every iterator is bounded to
// its prefix. Writes that raft relies on for safety (StoreLogs, DeleteRange,
// Set, SetUint64) are committed with fsync before they return, and a
// multi-entry StoreLogs is one atomic batch: after a crash either every entry
// of the batch is present or none is.
//
// A missing stable key answers an error whose text is exactly "not found",
// because raft compares that text.
package raftlog
