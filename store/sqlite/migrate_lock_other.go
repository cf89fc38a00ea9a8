//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sqlite

import "github.com/pressly/goose/v3/lock"

// migrationLocker returns no locker where flock is missing: there, only one
// process at a time may migrate a database file.
func migrationLocker(string) lock.SessionLocker { return nil }
