package sqlcore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/wealthwarriors/wealthcoach/store"
)

// legacyHistoryTable is where the migration runner that came before goose
// recorded applied versions (version, name, applied_at). Databases it
// migrated are adopted once; see adopt.
const legacyHistoryTable = "schema_migrations"

// Migrate applies the pending migrations in version order, each in its own
// transaction, so a failing file leaves the schema at the previous version.
// Servers starting together may all call it: they take turns on the
// dialect's lock, and each migration is applied once.
func (s *DB) Migrate(ctx context.Context) error {
	if err := s.adopt(ctx); err != nil {
		return err
	}
	if _, err := s.migrations.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", failedMigration(err))
	}
	return nil
}

// failedMigration names the file that failed, as goose's own error gives
// only its version.
func failedMigration(err error) error {
	var partial *goose.PartialError
	if errors.As(err, &partial) && partial.Failed != nil && partial.Failed.Source != nil {
		return fmt.Errorf("apply migration %s: %w", path.Base(partial.Failed.Source.Path), partial.Err)
	}
	return err
}

// MigrationStatus lists every migration with whether it has been applied,
// in version order. Versions recorded in the database but missing from the
// files (a database migrated by a newer binary) are listed too, without a
// name, so an operator can see the mismatch.
func (s *DB) MigrationStatus(ctx context.Context) ([]store.MigrationState, error) {
	// Status creates goose's version table when it is missing, so the old
	// history must be adopted first or a later Migrate would redo it.
	if err := s.adopt(ctx); err != nil {
		return nil, err
	}
	statuses, err := s.migrations.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	states := make([]store.MigrationState, 0, len(statuses))
	known := make(map[int64]bool, len(statuses))
	for _, st := range statuses {
		known[st.Source.Version] = true
		m := store.MigrationState{Version: int(st.Source.Version), Name: migrationName(st.Source.Path)}
		if st.State == goose.StateApplied {
			m.Applied, m.AppliedAt = true, st.AppliedAt
		}
		states = append(states, m)
	}
	unknown, err := s.recordedOnly(ctx, known)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	states = append(states, unknown...)
	slices.SortFunc(states, func(a, b store.MigrationState) int { return a.Version - b.Version })
	return states, nil
}

// recordedOnly returns the applied versions that no file here has.
func (s *DB) recordedOnly(ctx context.Context, known map[int64]bool) ([]store.MigrationState, error) {
	rows, err := s.versions.ListMigrations(ctx, s.db.DB)
	if err != nil {
		return nil, err
	}
	var out []store.MigrationState
	seen := make(map[int64]bool)
	for _, r := range rows {
		if r.Version == 0 || known[r.Version] || seen[r.Version] {
			continue // 0 is goose's own first row
		}
		seen[r.Version] = true
		m, err := s.versions.GetMigration(ctx, s.db.DB, r.Version)
		if err != nil {
			return nil, err
		}
		out = append(out, store.MigrationState{Version: int(r.Version), Applied: true, AppliedAt: m.Timestamp})
	}
	return out, nil
}

// adopt hands the history of a database migrated before goose over to
// goose, once: when goose's version table is absent and schema_migrations
// exists, it creates the version table with goose's zero row and copies
// every recorded version with its time, so goose applies none of them again.
// schema_migrations is left as it was, for a binary from before the change
// to read.
//
// It runs in one transaction that first waits out any migrator (AdoptLocks;
// on SQLite the transaction's own write lock), so of servers starting
// together on an old database exactly one adopts and the others find the
// version table. It must run before goose first touches the database,
// because goose would create an empty version table and try 0001 again.
func (s *DB) adopt(ctx context.Context) error {
	if s.adopted.Load() {
		return nil
	}
	table := s.versions.Tablename()
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		for _, q := range s.dialect.AdoptLocks {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		if ok, err := s.tableExists(ctx, tx, table); err != nil || ok {
			return err
		}
		if ok, err := s.tableExists(ctx, tx, legacyHistoryTable); err != nil || !ok {
			return err
		}
		if err := s.versions.CreateVersionTable(ctx, tx.Tx); err != nil {
			return fmt.Errorf("create %s: %w", table, err)
		}
		if err := s.versions.Insert(ctx, tx.Tx, database.InsertRequest{Version: 0}); err != nil {
			return fmt.Errorf("insert version 0: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (version_id, is_applied, tstamp)
			SELECT version, true, applied_at FROM `+legacyHistoryTable+` ORDER BY version`)
		if err != nil {
			return fmt.Errorf("copy history: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("adopt %s: %w", legacyHistoryTable, err)
	}
	s.adopted.Store(true)
	return nil
}

func (s *DB) tableExists(ctx context.Context, tx *sqlx.Tx, name string) (bool, error) {
	var n int
	if err := tx.GetContext(ctx, &n, s.dialect.TableExists, name); err != nil {
		return false, fmt.Errorf("look for table %s: %w", name, err)
	}
	return n > 0, nil
}

// checkMigrationFiles refuses files goose would skip or fail on late: it
// ignores a .sql file without a version, and silently ignoring one would
// leave the schema short of what the code expects; a file without its
// "-- +goose Up" line fails only when it is first applied.
func checkMigrationFiles(fsys fs.FS) error {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	seen := make(map[int64]string, len(files))
	for _, file := range files {
		v, err := goose.NumericComponent(file)
		if err != nil || migrationName(file) == "" {
			return fmt.Errorf("migration file %q: want NNNN_name.sql with NNNN > 0", file)
		}
		if prev, ok := seen[v]; ok {
			return fmt.Errorf("migrations %s and %s share version %d", prev, file, v)
		}
		seen[v] = file
		body, err := fs.ReadFile(fsys, file)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", file, err)
		}
		if !hasUpMark(body) {
			return fmt.Errorf("migration %s: no \"-- +goose Up\" line", file)
		}
	}
	return nil
}

func hasUpMark(body []byte) bool {
	for line := range bytes.Lines(body) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("-- +goose Up")) {
			return true
		}
	}
	return false
}

// migrationName is the name part of NNNN_name.sql.
func migrationName(file string) string {
	_, name, _ := strings.Cut(strings.TrimSuffix(path.Base(file), ".sql"), "_")
	return name
}
