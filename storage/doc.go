// Package storage holds what a node keeps on its own disk and what it
// ships elsewhere. The work is in its subpackages:
//
//   - raftlog: hashicorp/raft's LogStore and StableStore on pebble.
//   - outbox: the durable queue of billing and audit events on badger; an
//     answered request's event is on disk before its answer ends.
//   - event: the record of one data-plane request, as the gateway writes
//     it, the sinks ship it and the admin API reads it back.
//   - pgsink: ships events to Postgres (idempotent on request_id), with
//     the schema migrations it needs.
//   - greptime: ships usage series to GreptimeDB (line protocol).
//   - promwrite: pushes the node's metrics over Prometheus remote write.
//   - secret: seals provider keys and other secrets at rest.
//   - diskguard: watches free space and says when a node must stop
//     taking writes.
//
// Storage decides no policy: it stores, retrieves and ships what the layers
// above hand it.
package storage
