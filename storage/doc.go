// Package storage holds what a node keeps on its own disk and ships
// elsewhere: the raft log and stable store (package raftlog), and, as the
// pipeline grows, the event outbox and the Postgres and GreptimeDB sinks.
//
// Storage decides no policy: it stores, retrieves and ships what the layers
// above hand it.
package storage
