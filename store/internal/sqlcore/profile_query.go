package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/wealthwarriors/wealthcoach/store"
)

// profileQuery is an operator's query mapping an existing table onto an
// Account (store.profile_query). Its result columns are matched by name when
// it runs, since only the database knows them.
type profileQuery struct {
	text string
	mu   sync.Mutex
	stmt *sql.Stmt // prepared on first use, under mu
}

// SetProfileQuery makes LoadAccount read accounts with q, a query taking
// the user id as its one parameter (? for SQLite, $1 for PostgreSQL),
// instead of the built-in tables. See package store's documentation for the
// columns it may return; they are checked at the first load. A blank q
// restores the built-in query. Call it before the store serves logins.
func (s *DB) SetProfileQuery(q string) error {
	if strings.TrimSpace(q) == "" {
		if old := s.profileQuery.Swap(nil); old != nil {
			old.close()
		}
		return nil
	}
	if !strings.Contains(q, s.dialect.Param) {
		return fmt.Errorf("profile query: no %s parameter for the user id", s.dialect.Param)
	}
	if old := s.profileQuery.Swap(&profileQuery{text: q}); old != nil {
		old.close()
	}
	return nil
}

// statement prepares the query once, for the same reason as lazyStmt.
func (q *profileQuery) statement(ctx context.Context, db *sql.DB) (*sql.Stmt, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stmt != nil {
		return q.stmt, nil
	}
	stmt, err := db.PrepareContext(ctx, q.text)
	if err != nil {
		return nil, err
	}
	q.stmt = stmt
	return stmt, nil
}

func (q *profileQuery) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stmt != nil {
		_ = q.stmt.Close()
		q.stmt = nil
	}
}

func (s *DB) loadCustom(ctx context.Context, q *profileQuery, id string) (store.Account, error) {
	a, err := s.queryCustom(ctx, q, id)
	if err != nil {
		return store.Account{}, fmt.Errorf("load account %q: profile query: %w", id, err)
	}
	return a, nil
}

func (s *DB) queryCustom(ctx context.Context, q *profileQuery, id string) (store.Account, error) {
	stmt, err := q.statement(ctx, s.db.DB)
	if err != nil {
		return store.Account{}, err
	}
	rows, err := stmt.QueryContext(ctx, id)
	if err != nil {
		return store.Account{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return store.Account{}, err
	}
	var r customRow
	dest, err := r.targets(cols)
	if err != nil {
		return store.Account{}, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return store.Account{}, err
		}
		return store.Account{}, store.ErrNotFound
	}
	if err := rows.Scan(dest...); err != nil {
		return store.Account{}, err
	}
	// Two rows would mean coaching one user with another's money.
	if rows.Next() {
		return store.Account{}, errors.New("more than one row for one user id")
	}
	if err := rows.Err(); err != nil {
		return store.Account{}, err
	}
	return r.account()
}

// customRow receives the columns a profile query may return. Every one is
// nullable, because the query is free to return NULL or to omit it.
type customRow struct {
	id, name, currency, risk, goals, experience sql.NullString
	income, expenses, savings, debts            sql.NullFloat64
	disabled                                    sql.NullBool
}

// profileQueryColumns lists the columns a custom profile query may return,
// by name; only id is required.
var profileQueryColumns = []string{"id", "name", "disabled", "currency", "monthly_income",
	"monthly_expenses", "savings", "debts", "risk_tolerance", "goals", "experience"}

func (r *customRow) field(col string) any {
	switch col {
	case "id":
		return &r.id
	case "name":
		return &r.name
	case "disabled":
		return &r.disabled
	case "currency":
		return &r.currency
	case "monthly_income":
		return &r.income
	case "monthly_expenses":
		return &r.expenses
	case "savings":
		return &r.savings
	case "debts":
		return &r.debts
	case "risk_tolerance":
		return &r.risk
	case "goals":
		return &r.goals
	case "experience":
		return &r.experience
	}
	return nil
}

// targets maps result columns, case-insensitively, to scan destinations.
// It names every column it cannot place, so one run shows all the mistakes.
func (r *customRow) targets(cols []string) ([]any, error) {
	dest := make([]any, len(cols))
	var unknown, repeated []string
	seen := make(map[string]bool, len(cols))
	for i, c := range cols {
		name := strings.ToLower(c)
		dest[i] = r.field(name)
		switch {
		case dest[i] == nil:
			unknown = append(unknown, c)
		case seen[name]:
			repeated = append(repeated, c)
		}
		seen[name] = true
	}
	var problems []string
	if len(unknown) > 0 {
		problems = append(problems, fmt.Sprintf("unknown columns %s (known: %s)",
			strings.Join(unknown, ", "), strings.Join(profileQueryColumns, ", ")))
	}
	if len(repeated) > 0 {
		problems = append(problems, "repeated columns "+strings.Join(repeated, ", "))
	}
	if !seen["id"] {
		problems = append(problems, "no id column")
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return dest, nil
}

func (r *customRow) account() (store.Account, error) {
	if !r.id.Valid || r.id.String == "" {
		return store.Account{}, errors.New("id is NULL or empty")
	}
	goals, err := parseGoalList(r.goals.String)
	if err != nil {
		return store.Account{}, err
	}
	return store.Account{
		User: store.User{ID: r.id.String, Name: r.name.String, Disabled: r.disabled.Bool},
		Profile: store.Profile{
			Currency:        r.currency.String,
			MonthlyIncome:   r.income.Float64,
			MonthlyExpenses: r.expenses.Float64,
			Savings:         r.savings.Float64,
			Debts:           r.debts.Float64,
			RiskTolerance:   r.risk.String,
			Goals:           goals,
			Experience:      r.experience.String,
		},
	}, nil
}

// parseGoalList reads goals as a JSON array of strings when the text starts
// with '[', and as a comma-separated list otherwise.
func parseGoalList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		return decodeGoals(s)
	}
	var goals []string
	for g := range strings.SplitSeq(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			goals = append(goals, g)
		}
	}
	return slices.Clip(goals), nil
}
