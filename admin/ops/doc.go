// Package ops owns each admin action once: who may do it (the caller's
// role and org), what input is valid, the fsm command it proposes and the
// audit log line it writes. The JSON API (package admin) and the console
// are two adapters over it: they read their input (a JSON body, a form),
// call one operation, and render its result or its *Error in their own
// way. A decision taken in an adapter instead of here is a bug waiting to
// diverge.
//
// Every write goes through proposeFor, the one place that turns the fsm's
// untyped apply result into the operation's type.
//
// All lists every operation; a test in package admin asserts that both
// adapters reach each one, or that it is declared API-only with a reason.
package ops
