// Package diskguard watches the free space of the directories a node
// writes to and says when it has fallen below a reserve.
//
// A Guard takes one statfs of every watched directory per interval (and
// whenever a writer asks for a fresh look with Check), so the hot path's
// question, Full, is one atomic load. Below the reserve the node stops
// taking work it could not record; the reserve itself is what work
// already under way, and the stores' own housekeeping (flushes,
// compactions, raft's term and vote), still write into. The guard logs
// exactly one line when the disk becomes full and one when it has room
// again, however many writes were refused in between.
package diskguard
