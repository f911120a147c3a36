// Package cluster runs a node's raft instance on the pebble log store,
// bootstraps or resumes it, and is the one write path into the fsm: every
// configuration change, on one node or many, is a raft command proposed
// through Node.Apply.
//
// It knows nothing of HTTP handlers; the admin API and the gateway reach it
// through the small interfaces they declare.
package cluster
