package store

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
)

//go:embed migrations/postgres/*.sql
var postgresMigrationFiles embed.FS

// Pool limits for a server: enough connections for bursts of logins, which
// are single short queries, without crowding a database other services use.
// Idle connections are dropped after a while so a quiet node gives them back.
const (
	postgresMaxOpenConns    = 20
	postgresMaxIdleConns    = 10
	postgresConnMaxIdleTime = 5 * time.Minute
	postgresConnMaxLifetime = 30 * time.Minute // lets connections follow a failover
)

// postgresPingTimeout bounds the reachability check at open, so a server
// that is down fails startup in seconds instead of hanging it.
const postgresPingTimeout = 5 * time.Second

// postgresConnectTimeout applies when the DSN sets no connect_timeout, so a
// connection to a host that drops packets fails instead of waiting for TCP
// to give up after minutes.
const postgresConnectTimeout = 5 * time.Second

// postgresMigrationLock is the advisory lock key that serialises servers
// migrating one database. It is released when the migration transaction
// ends, including when the server holding it dies.
const postgresMigrationLock = `SELECT pg_advisory_xact_lock(8606374413820011265)`

// postgresSeedSeries has the server generate seeded users, which sends a
// few bytes per batch instead of every row.
const postgresSeedSeries = `INSERT INTO users (id, name, disabled, created_at)
SELECT $1::text || n, 'Load user ' || n, false, $4::timestamptz
FROM generate_series($2::int, $3::int - 1) AS n
ON CONFLICT (id) DO NOTHING`

// Postgres is the user and profile store on a PostgreSQL server.
// It is safe for concurrent use.
type Postgres struct {
	*sqlDB
	target string // host:port/database, for error messages
	secret string // the password, kept out of every error
}

// OpenPostgres connects to the server named by dsn, a postgres:// URL or a
// libpq key=value string, and checks that it answers. The schema is not
// touched: call Migrate. Errors never contain the DSN's password.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	p, err := newPostgres(dsn)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, postgresPingTimeout)
	defer cancel()
	if err := p.sqlDB.db.PingContext(ctx); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("open postgres %s: %w", p.target, redactError(err, p.secret))
	}
	return p, nil
}

// newPostgres builds the store without connecting: the pool dials on first
// use.
func newPostgres(dsn string) (*Postgres, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: parse dsn: %w", redactError(err, passwordOf(dsn)))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = postgresConnectTimeout
	}
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", redactError(err, cfg.Password, passwordOf(dsn)))
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "postgres")
	db.SetMaxOpenConns(postgresMaxOpenConns)
	db.SetMaxIdleConns(postgresMaxIdleConns)
	db.SetConnMaxIdleTime(postgresConnMaxIdleTime)
	db.SetConnMaxLifetime(postgresConnMaxLifetime)
	files, err := fs.Sub(postgresMigrationFiles, "migrations/postgres")
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	core := newSQLDB(db, dialect{
		bind:              sqlx.DOLLAR,
		param:             "$1",
		migrations:        files,
		migrationLock:     postgresMigrationLock,
		isUniqueViolation: postgresUniqueViolation,
		seedSeries:        postgresSeedSeries,
	})
	return &Postgres{sqlDB: core, target: postgresTarget(cfg), secret: cfg.Password}, nil
}

func postgresTarget(cfg pq.Config) string {
	host := cfg.Host
	if cfg.Port != 0 && (host == "" || host[0] != '/') {
		host += ":" + strconv.Itoa(int(cfg.Port))
	}
	return host + "/" + cfg.Database
}

func postgresUniqueViolation(err error) bool {
	var e *pq.Error
	return errors.As(err, &e) && e.Code == pqerror.UniqueViolation
}

// Ping checks that the server answers.
func (p *Postgres) Ping(ctx context.Context) error {
	if err := p.sqlDB.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping postgres %s: %w", p.target, redactError(err, p.secret))
	}
	return nil
}

// Close releases the pool. Calls in flight finish first.
func (p *Postgres) Close() error {
	return p.sqlDB.close()
}
