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
package fsm
