package store

import "time"

// MigrationState reports one schema migration: known to the code, recorded
// in the database, or both.
type MigrationState struct {
	Version int
	// Name is the file's name without its version and extension ("init"
	// for 0001_init.sql); empty for a version the database records but
	// this binary has no file for, as after a newer binary migrated it.
	Name      string
	Applied   bool
	AppliedAt time.Time // zero when not applied
}
