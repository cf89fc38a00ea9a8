package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite" // registers the pure-Go "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrationFiles embed.FS

// sqliteParams apply to every pooled connection, which matters because
// busy_timeout and foreign_keys are per-connection settings in SQLite.
// WAL lets readers proceed while one writer commits; synchronous=NORMAL is
// durable across process crashes in WAL mode and much cheaper than FULL.
// Immediate transactions take the write lock at BEGIN, so two writers queue
// on busy_timeout instead of failing when a read lock cannot be upgraded.
// Times are written in SQLite's own format so its date functions read them.
const sqliteParams = "_pragma=busy_timeout(5000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_pragma=foreign_keys(1)" +
	"&_txlock=immediate" +
	"&_time_format=sqlite"

// SQLite is the embedded user and profile store: one database file.
// It is safe for concurrent use.
type SQLite struct {
	*sqlDB
}

// OpenSQLite opens the database file at path, creating it and its parent
// directory if needed. The schema is not touched: call Migrate.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	if err := makeParentDir(path); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db, err := sqlx.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	configurePool(db, isMemory(path))
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	files, err := fs.Sub(sqliteMigrationFiles, "migrations/sqlite")
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &SQLite{sqlDB: newSQLDB(db, dialect{
		bind:              sqlx.QUESTION,
		param:             "?",
		migrations:        files,
		isUniqueViolation: sqliteUniqueViolation,
	})}, nil
}

func sqliteUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func sqliteDSN(path string) string {
	if strings.Contains(path, "?") {
		return path + "&" + sqliteParams
	}
	return path + "?" + sqliteParams
}

// isMemory reports an in-memory database, which exists per connection
// unless shared, so the pool must hold exactly one connection to it.
func isMemory(path string) bool {
	return path == ":memory:" || strings.Contains(path, "mode=memory")
}

func makeParentDir(path string) error {
	if isMemory(path) || strings.HasPrefix(path, "file:") {
		return nil // a URI names its own location; leave it to SQLite
	}
	return os.MkdirAll(filepath.Dir(path), 0o750)
}

// configurePool sizes the pool for SQLite: WAL serves readers in parallel,
// so a few connections per CPU help concurrent logins, while writers
// serialise on the file lock whatever the pool size. Connections are kept
// for the life of the store because opening one re-runs the pragmas.
func configurePool(db *sqlx.DB, memory bool) {
	n := max(4, runtime.GOMAXPROCS(0))
	if memory {
		n = 1
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
}

// Ping checks that the database file can be reached.
func (s *SQLite) Ping(ctx context.Context) error {
	if err := s.sqlDB.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close releases the database. Calls in flight finish first.
func (s *SQLite) Close() error {
	return s.sqlDB.close()
}
