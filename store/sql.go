package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// sqlDB holds the queries every SQL backend shares. They are written in the
// dialect SQLite and PostgreSQL have in common (ON CONFLICT, LEFT JOIN,
// boolean literals) with `?` placeholders rebound for the driver, so a
// backend only supplies its connection, bind style and migration files.
type sqlDB struct {
	db         *sqlx.DB
	bind       int
	migrations migrator
	loadSQL    string // the hot query, rebound once
	loadStmt   atomic.Pointer[sql.Stmt]
}

func newSQLDB(db *sqlx.DB, bind int, migrations fs.FS) *sqlDB {
	return &sqlDB{
		db:         db,
		bind:       bind,
		migrations: migrator{db: db, fsys: migrations, bind: bind},
		loadSQL:    sqlx.Rebind(bind, loadAccountSQL),
	}
}

func (s *sqlDB) rebind(query string) string { return sqlx.Rebind(s.bind, query) }

const loadAccountSQL = `SELECT u.id, u.name, u.disabled, u.created_at,
	p.currency, p.monthly_income, p.monthly_expenses, p.savings, p.debts,
	p.risk_tolerance, p.goals, p.experience, p.updated_at
FROM users u LEFT JOIN profiles p ON p.user_id = u.id
WHERE u.id = ?`

// profileRow holds the profile columns, all NULL when the user has no
// profile row, which is why every field is nullable.
type profileRow struct {
	currency, risk, goals, experience sql.NullString
	income, expenses, savings, debts  sql.NullFloat64
	updatedAt                         sql.NullTime
}

func (s *sqlDB) loadAccount(ctx context.Context, id string) (Account, error) {
	if err := ValidateUserID(id); err != nil {
		// No user can have an invalid id, so for a caller deciding between
		// "no such user" and "store unavailable" it is the former.
		return Account{}, fmt.Errorf("load account: %w: %w", ErrNotFound, err)
	}
	stmt, err := s.loadStatement(ctx)
	if err != nil {
		return Account{}, fmt.Errorf("load account %q: %w", id, err)
	}
	var a Account
	var p profileRow
	err = stmt.QueryRowContext(ctx, id).Scan(
		&a.User.ID, &a.User.Name, &a.User.Disabled, &a.User.CreatedAt,
		&p.currency, &p.income, &p.expenses, &p.savings, &p.debts,
		&p.risk, &p.goals, &p.experience, &p.updatedAt,
	)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("load account %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Account{}, fmt.Errorf("load account %q: %w", id, err)
	}
	if a.Profile, err = p.profile(); err != nil {
		return Account{}, fmt.Errorf("load account %q: %w", id, err)
	}
	return a, nil
}

// loadStatement prepares the login query on first use rather than at open,
// because the schema may not exist until Migrate has run. Preparing once
// halves the cost of a login on SQLite.
func (s *sqlDB) loadStatement(ctx context.Context) (*sql.Stmt, error) {
	if stmt := s.loadStmt.Load(); stmt != nil {
		return stmt, nil
	}
	stmt, err := s.db.PrepareContext(ctx, s.loadSQL)
	if err != nil {
		return nil, err
	}
	if !s.loadStmt.CompareAndSwap(nil, stmt) {
		_ = stmt.Close() // another caller won the race; use theirs
		return s.loadStmt.Load(), nil
	}
	return stmt, nil
}

// close releases the prepared statement, then the pool.
func (s *sqlDB) close() error {
	if stmt := s.loadStmt.Swap(nil); stmt != nil {
		_ = stmt.Close()
	}
	return s.db.Close()
}

func (p profileRow) profile() (Profile, error) {
	goals, err := decodeGoals(p.goals.String)
	if err != nil {
		return Profile{}, err
	}
	return Profile{
		Currency:        p.currency.String,
		MonthlyIncome:   p.income.Float64,
		MonthlyExpenses: p.expenses.Float64,
		Savings:         p.savings.Float64,
		Debts:           p.debts.Float64,
		RiskTolerance:   p.risk.String,
		Goals:           goals,
		Experience:      p.experience.String,
		UpdatedAt:       p.updatedAt.Time,
	}, nil
}

// decodeGoals fails on a corrupt column rather than dropping the goals, so
// the damage is seen instead of silently coaching without them.
func decodeGoals(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var goals []string
	if err := json.Unmarshal([]byte(s), &goals); err != nil {
		return nil, fmt.Errorf("decode goals: %w", err)
	}
	if len(goals) == 0 {
		return nil, nil
	}
	return goals, nil
}

// encodeGoals stores no goals as NULL, which reads back as nil.
func encodeGoals(goals []string) (sql.NullString, error) {
	if len(goals) == 0 {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(goals)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode goals: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func (s *sqlDB) addUser(ctx context.Context, u User) error {
	if err := ValidateUserID(u.ID); err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	q := s.rebind(`INSERT INTO users (id, name, disabled, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`)
	res, err := s.db.ExecContext(ctx, q, u.ID, u.Name, u.Disabled, u.CreatedAt.UTC())
	if err != nil {
		return fmt.Errorf("add user %q: %w", u.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("add user %q: %w", u.ID, err)
	} else if n == 0 {
		return fmt.Errorf("add user %q: %w", u.ID, ErrExists)
	}
	return nil
}

const upsertProfileSQL = `INSERT INTO profiles (user_id, currency, monthly_income,
	monthly_expenses, savings, debts, risk_tolerance, goals, experience, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id) DO UPDATE SET
	currency = excluded.currency, monthly_income = excluded.monthly_income,
	monthly_expenses = excluded.monthly_expenses, savings = excluded.savings,
	debts = excluded.debts, risk_tolerance = excluded.risk_tolerance,
	goals = excluded.goals, experience = excluded.experience,
	updated_at = excluded.updated_at`

// insertProfileSQL is the same insert keeping an existing row, for seeding.
const insertProfileSQL = `INSERT INTO profiles (user_id, currency, monthly_income,
	monthly_expenses, savings, debts, risk_tolerance, goals, experience, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id) DO NOTHING`

func (s *sqlDB) putProfile(ctx context.Context, id string, p Profile) error {
	if err := ValidateUserID(id); err != nil {
		return fmt.Errorf("put profile: %w", err)
	}
	// The existence check shares the transaction with the write so a missing
	// user reads as ErrNotFound rather than a driver-specific foreign key
	// error.
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := s.userExists(ctx, tx, id); err != nil {
			return err
		}
		return s.execProfile(ctx, tx, upsertProfileSQL, id, p)
	})
	if err != nil {
		return fmt.Errorf("put profile %q: %w", id, err)
	}
	return nil
}

func (s *sqlDB) userExists(ctx context.Context, tx *sqlx.Tx, id string) error {
	var n int
	err := tx.GetContext(ctx, &n, s.rebind(`SELECT COUNT(*) FROM users WHERE id = ?`), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *sqlDB) execProfile(ctx context.Context, tx *sqlx.Tx, query, id string, p Profile) error {
	goals, err := encodeGoals(p.Goals)
	if err != nil {
		return err
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = time.Now()
	}
	_, err = tx.ExecContext(ctx, s.rebind(query), id, p.Currency, p.MonthlyIncome,
		p.MonthlyExpenses, p.Savings, p.Debts, p.RiskTolerance, goals, p.Experience,
		p.UpdatedAt.UTC())
	return err
}

func (s *sqlDB) setDisabled(ctx context.Context, id string, disabled bool) error {
	if err := ValidateUserID(id); err != nil {
		return fmt.Errorf("set disabled: %w", err)
	}
	q := s.rebind(`UPDATE users SET disabled = ? WHERE id = ?`)
	res, err := s.db.ExecContext(ctx, q, disabled, id)
	if err != nil {
		return fmt.Errorf("set disabled %q: %w", id, err)
	}
	// Both backends count matched rows, changed or not, so 0 means absent.
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set disabled %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("set disabled %q: %w", id, ErrNotFound)
	}
	return nil
}

// Seeding sizes: rows per INSERT stay far below both backends' parameter
// limits (SQLite 32766, PostgreSQL 65535), and rows per transaction bound
// how long the single SQLite writer lock is held at a time.
const (
	seedRowsPerInsert = 500
	seedRowsPerTx     = 10 * seedRowsPerInsert
)

func (s *sqlDB) seedUsers(ctx context.Context, prefix string, count int) (int, error) {
	if count < 0 {
		return 0, fmt.Errorf("seed users: negative count %d", count)
	}
	if count == 0 {
		return 0, nil
	}
	// The longest id is the last one; the prefix decides the rest.
	if err := ValidateUserID(prefix + strconv.Itoa(count-1)); err != nil {
		return 0, fmt.Errorf("seed users: prefix %q: %w", prefix, err)
	}
	created := 0
	for start := 0; start < count; start += seedRowsPerTx {
		end := min(start+seedRowsPerTx, count)
		n, err := s.seedRange(ctx, prefix, start, end)
		created += n
		if err != nil {
			return created, fmt.Errorf("seed users %s%d..%s%d: %w", prefix, start, prefix, end-1, err)
		}
	}
	return created, nil
}

// seedRange inserts users prefix{start}..prefix{end-1} in one transaction,
// skipping ids that exist, and returns how many it created.
func (s *sqlDB) seedRange(ctx context.Context, prefix string, start, end int) (int, error) {
	created := 0
	now := time.Now().UTC()
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		for lo := start; lo < end; lo += seedRowsPerInsert {
			hi := min(lo+seedRowsPerInsert, end)
			q, args := seedInsert(prefix, lo, hi, now)
			res, err := tx.ExecContext(ctx, s.rebind(q), args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			created += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return created, nil
}

// seedInsert builds one multi-row INSERT for users prefix{lo}..prefix{hi-1}.
func seedInsert(prefix string, lo, hi int, now time.Time) (string, []any) {
	var b strings.Builder
	b.WriteString(`INSERT INTO users (id, name, disabled, created_at) VALUES `)
	args := make([]any, 0, 3*(hi-lo))
	for i := lo; i < hi; i++ {
		if i > lo {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, false, ?)")
		n := strconv.Itoa(i)
		args = append(args, prefix+n, "Load user "+n, now)
	}
	b.WriteString(` ON CONFLICT (id) DO NOTHING`)
	return b.String(), args
}

// demoProfile is a plausible starting point for trying the coach.
var demoProfile = Profile{
	Currency:        "USD",
	MonthlyIncome:   6500,
	MonthlyExpenses: 4200,
	Savings:         12000,
	Debts:           8000,
	RiskTolerance:   "medium",
	Goals: []string{
		"Build a 6-month emergency fund",
		"Pay off credit card debt",
		"Start investing for retirement",
	},
	Experience: "beginner",
}

// seedDemo creates the demo user and its profile where missing. It never
// overwrites either, so edits made to the demo account survive restarts.
func (s *sqlDB) seedDemo(ctx context.Context) error {
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		q := s.rebind(`INSERT INTO users (id, name, disabled, created_at) VALUES (?, ?, false, ?)
			ON CONFLICT (id) DO NOTHING`)
		if _, err := tx.ExecContext(ctx, q, DemoUserID, "Demo User", time.Now().UTC()); err != nil {
			return err
		}
		return s.execProfile(ctx, tx, insertProfileSQL, DemoUserID, demoProfile)
	})
	if err != nil {
		return fmt.Errorf("seed demo user: %w", err)
	}
	return nil
}
