package sqlite

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
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite" // registers the pure-Go "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/internal/sqlcore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// params apply to every pooled connection, which matters because
// busy_timeout and foreign_keys are per-connection settings in SQLite.
// WAL lets readers proceed while one writer commits; synchronous=NORMAL is
// durable across process crashes in WAL mode and much cheaper than FULL.
// Immediate transactions take the write lock at BEGIN, so two writers queue
// on busy_timeout instead of failing when a read lock cannot be upgraded.
// Times are written in SQLite's own format so its date functions read them.
const params = "_pragma=busy_timeout(5000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_pragma=foreign_keys(1)" +
	"&_txlock=immediate" +
	"&_time_format=sqlite"

// tableExists finds a table by name; SQLite has one namespace per file.
const tableExists = `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`

// messagesJSON aggregates a conversation's last messages for the login
// query (sqlcore.Dialect.MessagesJSON); times go as the text the driver
// wrote.
const messagesJSON = `json_group_array(json_array(h.id, h.role, h.content, h.answer_id, h.reply_to,
	h.cached, h.finish_reason, h.at) ORDER BY h.seq)`

// Store is the embedded user and profile store: one database file.
// It is safe for concurrent use.
type Store struct {
	*core
}

// core gives the embedded field an unexported name, so the shared methods
// are promoted without exposing the field.
type core = sqlcore.DB

var (
	_ store.Accounts = (*Store)(nil)
	_ store.Journal  = (*Store)(nil)
)

// Open opens the database file at path, creating it and its parent
// directory if needed. The schema is not touched: call Migrate.
func Open(ctx context.Context, path string) (*Store, error) {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return open(ctx, path, files)
}

// open is Open with the migration files given, so tests can run others.
func open(ctx context.Context, path string, migrations fs.FS) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	if err := makeParentDir(path); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db, err := sqlx.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	configurePool(db, isMemory(path))
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	c, err := sqlcore.New(db, sqlcore.Dialect{
		Bind:              sqlx.QUESTION,
		Param:             "?",
		IsUniqueViolation: isUniqueViolation,
		MessagesJSON:      messagesJSON,
		Goose:             goose.DialectSQLite3,
		Migrations:        migrations,
		Locker:            migrationLocker(path),
		TableExists:       tableExists,
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &Store{core: c}, nil
}

func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func dsn(path string) string {
	if strings.Contains(path, "?") {
		return path + "&" + params
	}
	return path + "?" + params
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
func (s *Store) Ping(ctx context.Context) error {
	if err := s.SQL().PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}
