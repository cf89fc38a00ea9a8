package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/internal/redact"
	"github.com/wealthwarriors/wealthcoach/store/internal/sqlcore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Pool limits for a server: enough connections for bursts of logins, which
// are single short queries, without crowding a database other services use.
// Idle connections are dropped after a while so a quiet node gives them back.
const (
	maxOpenConns    = 20
	maxIdleConns    = 10
	connMaxIdleTime = 5 * time.Minute
	connMaxLifetime = 30 * time.Minute // lets connections follow a failover
)

// pingTimeout bounds the reachability check at open, so a server that is
// down fails startup in seconds instead of hanging it.
const pingTimeout = 5 * time.Second

// connectTimeout applies when the DSN sets no connect_timeout, so a
// connection to a host that drops packets fails instead of waiting for TCP
// to give up after minutes.
const connectTimeout = 5 * time.Second

// Migration locking. goose's session lock is polled every second (its
// default of five makes every starter after the first wait five seconds)
// for up to five minutes. Adopting the old history takes the same key at
// transaction level, so it waits out a goose run, and first the key the old
// runner locked, so it also waits out a server of the previous release
// still migrating during a rolling upgrade.
const (
	lockPollSeconds = 1
	lockPolls       = 300
	legacyLock      = `SELECT pg_advisory_xact_lock(8606374413820011265)`
)

var adoptLock = "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(lock.DefaultLockID, 10) + ")"

// tableExists finds a table where unqualified names are created, as goose
// does for its own version table.
const tableExists = `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`

// seedSeries has the server generate seeded users, which sends a few bytes
// per batch instead of every row.
const seedSeries = `INSERT INTO users (id, name, disabled, created_at)
SELECT $1::text || n, 'Load user ' || n, false, $4::timestamptz
FROM generate_series($2::int, $3::int - 1) AS n
ON CONFLICT (id) DO NOTHING`

// messagesJSON aggregates a conversation's last messages for the login
// query (sqlcore.Dialect.MessagesJSON). Times go as Unix microseconds, which
// are exact and do not depend on the session's time zone.
const messagesJSON = `json_agg(json_build_array(h.id, h.role, h.content, h.answer_id, h.reply_to,
	h.cached, h.finish_reason, (extract(epoch FROM h.at) * 1000000)::bigint) ORDER BY h.seq)`

// lockUser serialises the resets of one user (sqlcore.Dialect.LockUser).
// The two-key form keeps these locks apart from the migration locks, which
// use the one-key form; the first key names this use.
const lockUser = `SELECT pg_advisory_xact_lock(1464008705, hashtext($1))`

// Store is the user and profile store on a PostgreSQL server.
// It is safe for concurrent use.
type Store struct {
	*core
	target string // host:port/database, for error messages
	secret string // the password, kept out of every error
}

// core gives the embedded field an unexported name, so the shared methods
// are promoted without exposing the field.
type core = sqlcore.DB

var (
	_ store.Accounts = (*Store)(nil)
	_ store.Journal  = (*Store)(nil)
)

// Open connects to the server named by dsn, a postgres:// URL or a libpq
// key=value string, and checks that it answers. The schema is not touched:
// call Migrate. Errors never contain the DSN's password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	s, err := newStore(dsn)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := s.SQL().PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open postgres %s: %w", s.target, redact.Error(err, s.secret))
	}
	return s, nil
}

// newStore builds the store without connecting: the pool dials on first
// use.
func newStore(dsn string) (*Store, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: parse dsn: %w", redact.Error(err, redact.PasswordOf(dsn)))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", redact.Error(err, cfg.Password, redact.PasswordOf(dsn)))
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "postgres")
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	db.SetConnMaxLifetime(connMaxLifetime)
	c, err := newCore(db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return &Store{core: c, target: target(cfg), secret: cfg.Password}, nil
}

func newCore(db *sqlx.DB) (*sqlcore.DB, error) {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(lockPollSeconds, lockPolls))
	if err != nil {
		return nil, err
	}
	return sqlcore.New(db, sqlcore.Dialect{
		Bind:              sqlx.DOLLAR,
		Param:             "$1",
		IsUniqueViolation: isUniqueViolation,
		SeedSeries:        seedSeries,
		MessagesJSON:      messagesJSON,
		LockUser:          lockUser,
		Goose:             goose.DialectPostgres,
		Migrations:        files,
		Locker:            locker,
		AdoptLocks:        []string{legacyLock, adoptLock},
		TableExists:       tableExists,
	})
}

func target(cfg pq.Config) string {
	host := cfg.Host
	if cfg.Port != 0 && (host == "" || host[0] != '/') {
		host += ":" + strconv.Itoa(int(cfg.Port))
	}
	return host + "/" + cfg.Database
}

func isUniqueViolation(err error) bool {
	var e *pq.Error
	return errors.As(err, &e) && e.Code == pqerror.UniqueViolation
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.SQL().PingContext(ctx); err != nil {
		return fmt.Errorf("ping postgres %s: %w", s.target, redact.Error(err, s.secret))
	}
	return nil
}
