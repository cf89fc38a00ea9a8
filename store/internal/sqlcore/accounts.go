package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wealthwarriors/wealthcoach/store"
)

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

// LoadAccount reads a user and its profile and, when SetHistoryMessages
// asked for it, the user's current conversation with its last messages, in
// one query (two with a profile query). A missing user, or an id no user
// can have, is ErrNotFound; a disabled user is returned with Disabled set,
// for the caller to refuse; a user without a profile row has the zero
// Profile.
func (s *DB) LoadAccount(ctx context.Context, id string) (store.Account, error) {
	if err := store.ValidateUserID(id); err != nil {
		// No user can have an invalid id, so for a caller deciding between
		// "no such user" and "store unavailable" it is the former.
		return store.Account{}, fmt.Errorf("load account: %w: %w", store.ErrNotFound, err)
	}
	limit := s.historyMessages.Load()
	if q := s.profileQuery.Load(); q != nil {
		a, err := s.loadCustom(ctx, q, id)
		if err != nil || limit == 0 {
			return a, err
		}
		if err := s.loadConversation(ctx, &a, id, limit); err != nil {
			return store.Account{}, fmt.Errorf("load account %q: %w", id, err)
		}
		return a, nil
	}
	a, err := s.loadBuiltin(ctx, id, limit)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, fmt.Errorf("load account %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("load account %q: %w", id, err)
	}
	return a, nil
}

// loadBuiltin reads the account from the built-in tables, with the
// conversation when limit > 0.
func (s *DB) loadBuiltin(ctx context.Context, id string, limit int64) (store.Account, error) {
	var a store.Account
	var p profileRow
	dest := []any{
		&a.User.ID, &a.User.Name, &a.User.Disabled, &a.User.CreatedAt,
		&p.currency, &p.income, &p.expenses, &p.savings, &p.debts,
		&p.risk, &p.goals, &p.experience, &p.updatedAt,
	}
	stmt, args := &s.load, []any{id}
	var c conversationRow
	if limit > 0 {
		stmt, args = &s.loadHistory, []any{limit, id}
		dest = append(dest, c.targets()...)
	}
	st, err := stmt.get(ctx, s.db)
	if err != nil {
		return store.Account{}, err
	}
	if err := st.QueryRowContext(ctx, args...).Scan(dest...); err != nil {
		return store.Account{}, err
	}
	if a.Profile, err = p.profile(); err != nil {
		return store.Account{}, err
	}
	if limit > 0 {
		if a.ConversationID, a.History, err = c.current(id); err != nil {
			return store.Account{}, err
		}
	}
	return a, nil
}

func (p profileRow) profile() (store.Profile, error) {
	goals, err := decodeGoals(p.goals.String)
	if err != nil {
		return store.Profile{}, err
	}
	return store.Profile{
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

// AddUser creates a user, returning ErrExists if the id is taken.
// A zero CreatedAt means now.
func (s *DB) AddUser(ctx context.Context, u store.User) error {
	if err := store.ValidateUserID(u.ID); err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	q := s.rebind(`INSERT INTO users (id, name, disabled, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`)
	res, err := s.db.ExecContext(ctx, q, u.ID, u.Name, u.Disabled, u.CreatedAt.UTC())
	if err != nil && s.dialect.IsUniqueViolation != nil && s.dialect.IsUniqueViolation(err) {
		// ON CONFLICT covers the id; this covers any other unique
		// constraint an operator has added to the table.
		return fmt.Errorf("add user %q: %w", u.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add user %q: %w", u.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("add user %q: %w", u.ID, err)
	} else if n == 0 {
		return fmt.Errorf("add user %q: %w", u.ID, store.ErrExists)
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

// PutProfile creates or replaces the profile of an existing user, returning
// ErrNotFound if there is no such user. A zero UpdatedAt means now.
func (s *DB) PutProfile(ctx context.Context, id string, p store.Profile) error {
	if err := store.ValidateUserID(id); err != nil {
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

func (s *DB) userExists(ctx context.Context, tx *sqlx.Tx, id string) error {
	var n int
	err := tx.GetContext(ctx, &n, s.rebind(`SELECT COUNT(*) FROM users WHERE id = ?`), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (s *DB) execProfile(ctx context.Context, tx *sqlx.Tx, query, id string, p store.Profile) error {
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

// SetDisabled disables or re-enables a user, returning ErrNotFound if there
// is no such user.
func (s *DB) SetDisabled(ctx context.Context, id string, disabled bool) error {
	if err := store.ValidateUserID(id); err != nil {
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
		return fmt.Errorf("set disabled %q: %w", id, store.ErrNotFound)
	}
	return nil
}
