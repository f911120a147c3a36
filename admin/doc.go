// Package admin serves the admin JSON API (/api/auth, /api/admin,
// /api/health, metrics) and mounts the console (package admin/console:
// server-rendered pages, templates and assets) beside it. Both are thin
// adapters over package admin/ops, which owns every admin action once:
// who may do it, what input is valid, the fsm command it proposes and its
// audit line; what both adapters share besides (the error table, session
// tokens and sign-in, the read barrier) is package admin/web. A handler
// reads its input (a JSON body, a form), calls one operation and renders
// the result or the error: the API through one error table
// (web.ToAPIError), the console as a message on the page. Reads come from the
// fsm's immutable views; writes only ever go through ops, which proposes
// them through the cluster, so every change is replicated before it is
// acknowledged.
//
// Secrets never leave this package in plaintext: gk_ keys are hashed before
// they are proposed and shown once, provider keys are sealed with a key
// derived from BETTER_AUTH_SECRET before they enter the raft log, and no
// response or log line carries either.
package admin
