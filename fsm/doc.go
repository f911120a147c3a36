// Package fsm is Tensorgate's replicated state machine: organizations,
// users, API keys, providers, routes, prices and org policies.
//
// Every change is a Command: one type byte, one payload version byte and a
// JSON payload carrying the proposer's command id and time. Apply is
// deterministic: it never reads a clock, a random source or the network, and
// ids, hashes, timestamps and ciphertexts all come from the proposer.
//
// Readers get an immutable *State from View. Apply builds a new State that
// shares every unchanged map with the previous one and publishes it with an
// atomic pointer swap, so the data plane reads without locks and sees a
// write on the next request after it is applied.
//
// An entry that will not decode, or a type this build does not know and that
// lacks the IgnoreUnknown flag, panics: a crash beats diverged state. A
// broken business rule (a duplicate name, a stale version) is answered as an
// *Error in the apply response.
//
// Each command type is registered once, with its handler and so with its
// result type (register in the apply_*.go files). Every path answers that
// type: the leader the handler's value, a follower the leader's answer
// decoded, a retried command id the result the dedupe table kept. Results
// are pointers: a record the command wrote (*Org), a struct made for it
// (*UsageAddResult, *QuotaGrants), or *NoResult. Proposers read them with
// Propose[T] or ResultOf[T], which answer a *ResultTypeError rather than
// panic when T is not the registered type.
//
// To add a command:
//
//  1. Give it the next MessageType in command.go (append only, never
//     renumber) and a body struct. Propose it only once every server
//     announces a build that knows it.
//  2. Write its handler in the apply_*.go file of its domain:
//     func applyX(next *State, c decoded, b XBody, index uint64) (*R, error),
//     where R is its result type, NoResult when it answers only success.
//  3. Register it from that file's init: register(TypeX, applyX). Its body
//     and result types are registered with it (BodyType, ResultType).
//  4. Add a sample of it to fsmtest.Samples: TestEveryCommandAnswersOneType
//     (and the cluster's leader and follower test) fail for a registered
//     type without one.
//
// Results are stored as JSON in the dedupe table (so in snapshots) and sent
// to followers: change a result type only in ways its old encodings still
// decode into. *NoResult encodes as nothing.
package fsm
