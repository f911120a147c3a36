// Package admin serves the admin API (/api/auth, /api/admin, /api/health,
// metrics) and, as it grows, the embedded console. It reads from the fsm's
// immutable views and writes only by proposing fsm commands through the
// cluster, so every change is replicated before it is acknowledged.
//
// Secrets never leave this package in plaintext: gk_ keys are hashed before
// they are proposed and shown once, provider keys are sealed with a key
// derived from BETTER_AUTH_SECRET before they enter the raft log, and no
// response or log line carries either.
package admin
