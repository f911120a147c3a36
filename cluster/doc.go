// Package cluster runs a node's raft instance on the pebble log store
// (storage/raftlog) and is the one write path into the fsm: every
// configuration change and quota sync, on one node or many, is a raft
// command proposed through Node.Apply.
//
// What it holds, by file:
//
//   - node.go: New opens the stores, resumes or bootstraps raft (alone,
//     with --join, or with --bootstrap-expect N), starts the background
//     loops, and Shutdown stops them all. Every goroutine the node starts
//     is owned: Shutdown waits for it (spawn, the WaitGroup, notice
//     senders), and may be called more than once.
//   - apply.go, rpc.go: writes from any node, forwarded to the leader over
//     an authenticated RPC and retried across elections; the command's id
//     makes a retry that already committed a no-op.
//   - read.go: read barriers and leader verification for linearizable
//     admin reads, and how stale a local read may be.
//   - discovery.go, reconcile.go, members.go: gossip membership
//     (memberlist, encrypted with the cluster secret), autopilot-style
//     reconciliation on the leader (join as non-voter, promote once caught
//     up, remove members dead for DeadServerTimeout), and the operator's
//     member list, removal and leadership transfer.
//   - mux.go, tls.go: one TCP port carries raft and RPC connections, each
//     authenticated with a key derived from the cluster secret, and
//     with mutual TLS when certificates are given.
//   - notice.go: best-effort, unreplicated notices to live peers (a
//     circuit breaker opening), sent from a bounded queue.
//   - space.go: new writes are refused while the disk is below its
//     reserve.
//   - faults.go: partitions and delays between in-process nodes, for tests;
//     clustertest has the helpers tests share (free addresses, polling).
//
// It knows nothing of HTTP handlers; the admin API and the gateway reach it
// through the small interfaces they declare, and cmd wires it in.
package cluster
