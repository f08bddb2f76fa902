// Package migrations holds the PostgreSQL schema as numbered SQL files,
// embedded in the binary and applied in order by store.Migrate.
package migrations

import "embed"

// FS holds every migration. File names are NNNN_description.sql; the number
// is the schema version and never changes once a file has landed on main.
//
//go:embed *.sql
var FS embed.FS
