package sqlcore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wealthwarriors/wealthcoach/store"
)

// Seeding sizes: rows per INSERT stay far below both backends' parameter
// limits (SQLite 32766, PostgreSQL 65535), and rows per transaction bound
// how long the single SQLite writer lock is held at a time.
const (
	seedRowsPerInsert = 500
	seedRowsPerTx     = 10 * seedRowsPerInsert
)

// SeedUsers creates users prefix0 .. prefix{count-1} for trials and load
// tests, skipping ids that exist, and returns how many it created. It writes
// in batches, so a hundred thousand users take seconds.
func (s *DB) SeedUsers(ctx context.Context, prefix string, count int) (int, error) {
	if count < 0 {
		return 0, fmt.Errorf("seed users: negative count %d", count)
	}
	if count == 0 {
		return 0, nil
	}
	// The longest id is the last one; the prefix decides the rest.
	if err := store.ValidateUserID(prefix + strconv.Itoa(count-1)); err != nil {
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
func (s *DB) seedRange(ctx context.Context, prefix string, start, end int) (int, error) {
	created := 0
	now := time.Now().UTC()
	step := seedRowsPerInsert
	if s.dialect.SeedSeries != "" {
		step = end - start // the server generates the rows: one statement
	}
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		for lo := start; lo < end; lo += step {
			hi := min(lo+step, end)
			q, args := s.seedStatement(prefix, lo, hi, now)
			res, err := tx.ExecContext(ctx, q, args...)
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

// seedStatement returns the statement inserting users prefix{lo}..prefix{hi-1}.
func (s *DB) seedStatement(prefix string, lo, hi int, now time.Time) (string, []any) {
	if s.dialect.SeedSeries != "" {
		return s.dialect.SeedSeries, []any{prefix, lo, hi, now}
	}
	q, args := seedInsert(prefix, lo, hi, now)
	return s.rebind(q), args
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
var demoProfile = store.Profile{
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

// SeedDemo creates the DemoUserID user with a sample profile unless they
// exist. Running it again changes nothing.
func (s *DB) SeedDemo(ctx context.Context) error {
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		q := s.rebind(`INSERT INTO users (id, name, disabled, created_at) VALUES (?, ?, false, ?)
			ON CONFLICT (id) DO NOTHING`)
		if _, err := tx.ExecContext(ctx, q, store.DemoUserID, "Demo User", time.Now().UTC()); err != nil {
			return err
		}
		return s.execProfile(ctx, tx, insertProfileSQL, store.DemoUserID, demoProfile)
	})
	if err != nil {
		return fmt.Errorf("seed demo user: %w", err)
	}
	return nil
}
