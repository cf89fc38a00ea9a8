package store

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// MigrationState reports one schema migration: known to the code, recorded
// in the database, or both.
type MigrationState struct {
	Version   int
	Name      string
	Applied   bool
	AppliedAt time.Time // zero when not applied
}

// migration is one versioned SQL file, named NNNN_name.sql.
type migration struct {
	version int
	name    string
	file    string
}

// migrator applies the SQL files of one backend. It knows nothing about the
// driver beyond its placeholder style, so every backend shares it.
type migrator struct {
	db   *sqlx.DB
	fsys fs.FS // migration files at its root
	bind int   // sqlx bind type: sqlx.QUESTION, sqlx.DOLLAR, ...
	// lock, when set, is run first in every migration transaction to
	// serialise servers migrating one database at once; the lock must be
	// released by the transaction's end. SQLite needs none: its immediate
	// transactions already take the database's single write lock at BEGIN.
	lock string
}

// The table is plain SQL that SQLite and PostgreSQL both accept.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TIMESTAMP NOT NULL
)`

func (m migrator) rebind(query string) string { return sqlx.Rebind(m.bind, query) }

type appliedRow struct {
	Version   int       `db:"version"`
	Name      string    `db:"name"`
	AppliedAt time.Time `db:"applied_at"`
}

// migrate applies every pending migration in version order, each in its own
// transaction, so a failing file leaves the schema at the previous version.
func (m migrator) migrate(ctx context.Context) error {
	all, err := loadMigrations(m.fsys)
	if err != nil {
		return err
	}
	applied, err := m.applied(ctx)
	if err != nil {
		return err
	}
	for _, mg := range all {
		if _, ok := applied[mg.version]; ok {
			continue
		}
		if err := m.apply(ctx, mg); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration. It checks the version again inside the
// transaction because another process may have applied it meanwhile.
func (m migrator) apply(ctx context.Context, mg migration) error {
	body, err := fs.ReadFile(m.fsys, mg.file)
	if err != nil {
		return fmt.Errorf("read migration %s: %w", mg.file, err)
	}
	err = m.locked(ctx, func(tx *sqlx.Tx) error {
		var n int
		q := m.rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`)
		if err := tx.GetContext(ctx, &n, q, mg.version); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return err
		}
		q = m.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`)
		_, err := tx.ExecContext(ctx, q, mg.version, mg.name, time.Now().UTC())
		return err
	})
	if err != nil {
		return fmt.Errorf("apply migration %s: %w", mg.file, err)
	}
	return nil
}

// status merges the files with the database's record. Versions recorded
// but missing from the files (a database migrated by a newer binary) are
// reported too, so an operator can see the mismatch.
func (m migrator) status(ctx context.Context) ([]MigrationState, error) {
	all, err := loadMigrations(m.fsys)
	if err != nil {
		return nil, err
	}
	applied, err := m.applied(ctx)
	if err != nil {
		return nil, err
	}
	states := make([]MigrationState, 0, len(all))
	for _, mg := range all {
		st := MigrationState{Version: mg.version, Name: mg.name}
		if row, ok := applied[mg.version]; ok {
			st.Applied, st.AppliedAt = true, row.AppliedAt
			delete(applied, mg.version)
		}
		states = append(states, st)
	}
	for _, row := range applied {
		states = append(states, MigrationState{
			Version: row.Version, Name: row.Name, Applied: true, AppliedAt: row.AppliedAt,
		})
	}
	slices.SortFunc(states, func(a, b MigrationState) int { return a.Version - b.Version })
	return states, nil
}

// locked runs fn in a transaction holding the migration lock.
func (m migrator) locked(ctx context.Context, fn func(*sqlx.Tx) error) error {
	return withTx(ctx, m.db, func(tx *sqlx.Tx) error {
		if m.lock != "" {
			if _, err := tx.ExecContext(ctx, m.lock); err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		return fn(tx)
	})
}

// applied returns the recorded migrations by version, creating the
// bookkeeping table first so a fresh database reads as "nothing applied".
// The table is created under the lock because PostgreSQL's CREATE TABLE IF
// NOT EXISTS is not safe against a concurrent creator: the loser fails on a
// catalog unique index instead of finding the table.
func (m migrator) applied(ctx context.Context) (map[int]appliedRow, error) {
	err := m.locked(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, createMigrationsTable)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var rows []appliedRow
	err = m.db.SelectContext(ctx, &rows, `SELECT version, name, applied_at FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	byVersion := make(map[int]appliedRow, len(rows))
	for _, r := range rows {
		byVersion[r.Version] = r
	}
	return byVersion, nil
}

// loadMigrations lists the .sql files at the root of fsys in version order.
// A malformed name or a repeated version is an error rather than skipped:
// silently ignoring a file would leave the schema short of what the code
// expects.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var all []migration
	seen := make(map[int]string)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		mg, err := parseMigrationName(e.Name())
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[mg.version]; ok {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, mg.file, mg.version)
		}
		seen[mg.version] = mg.file
		all = append(all, mg)
	}
	slices.SortFunc(all, func(a, b migration) int { return a.version - b.version })
	return all, nil
}

func parseMigrationName(file string) (migration, error) {
	num, name, ok := strings.Cut(strings.TrimSuffix(file, ".sql"), "_")
	v, err := strconv.Atoi(num)
	if !ok || err != nil || v <= 0 || name == "" {
		return migration{}, fmt.Errorf("migration file %q: want NNNN_name.sql with NNNN > 0", file)
	}
	return migration{version: v, name: name, file: file}, nil
}

// withTx runs fn in a transaction, committing when it returns nil and
// rolling back otherwise, including when fn panics.
func withTx(ctx context.Context, db *sqlx.DB, fn func(*sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op once committed
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
