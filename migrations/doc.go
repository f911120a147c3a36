// Package migrations holds the forward-only SQL migrations of the Postgres
// audit and billing sink, embedded into the binary and applied by
// `tensorgate migrate` and at start when DATABASE_URL is set.
//
// Files are named NNNN_name.sql in goose's format and are never edited once
// released; a change is a new file.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
