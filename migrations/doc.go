// Package migrations holds the forward-only SQL migrations of the Postgres
// audit and billing sink, embedded into the binary and applied by
// `tensorgate migrate` and at start when DATABASE_URL is set.
//
// Files are named NNNN_name.sql and are never edited once released; a change
// is a new file.
package migrations
