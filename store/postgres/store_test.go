package postgres_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/postgres"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

func TestStore(t *testing.T) {
	dsns := storetest.PostgresSchemas(t)
	storetest.RunAccountsSuite(t, storetest.Backend{
		Open:  func(tb testing.TB) store.Accounts { return mustOpen(tb, dsns(tb)) },
		Param: "$1",
	})
}

func TestJournal(t *testing.T) {
	dsns := storetest.PostgresSchemas(t)
	storetest.RunJournalSuite(t, storetest.JournalBackend{
		Open:  func(tb testing.TB) storetest.JournalStore { return mustOpen(tb, dsns(tb)) },
		Param: "$1",
	})
}

func TestMigrations(t *testing.T) {
	dsns := storetest.PostgresSchemas(t)
	storetest.RunMigrationSuite(t, storetest.MigrationBackend{
		NewDatabase: func(t *testing.T) string { return dsns(t) },
		Open:        func(t *testing.T, dsn string) storetest.SQLStore { return mustOpen(t, dsn) },
		Bind:        sqlx.DOLLAR,
		Goose:       goose.DialectPostgres,
		Files:       os.DirFS("migrations"),
	})
}

func mustOpen(tb testing.TB, dsn string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// The mapping shown in package store's documentation, run against a table
// shaped like a real customer table: NUMERIC money, a status column, an
// array of goals.
func TestProfileQueryCustomers(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, storetest.PostgresSchemas(t)(t))
	_, err := s.SQL().ExecContext(ctx, `
		CREATE TABLE customers (
			customer_id TEXT PRIMARY KEY,
			full_name   TEXT NOT NULL,
			status      TEXT NOT NULL,
			ccy         CHAR(3),
			net_income  NUMERIC(12,2),
			spend       NUMERIC(12,2),
			cash        NUMERIC(14,2),
			loans       NUMERIC(14,2),
			risk_band   TEXT,
			objectives  TEXT[]
		);
		INSERT INTO customers VALUES
			('c-1', 'Ada Lovelace', 'active', 'GBP', 5200.50, 3100, 15000.25, 0, 'MEDIUM',
			 ARRAY['Pay off the car', 'Save for a deposit']),
			('c-2', 'Closed Account', 'closed', NULL, NULL, NULL, NULL, NULL, NULL, NULL);`)
	if err != nil {
		t.Fatalf("create customers: %v", err)
	}
	err = s.SetProfileQuery(`
		SELECT customer_id AS id,
		       full_name AS name,
		       status <> 'active' AS disabled,
		       ccy AS currency,
		       net_income AS monthly_income,
		       spend AS monthly_expenses,
		       cash AS savings,
		       loans AS debts,
		       lower(risk_band) AS risk_tolerance,
		       array_to_json(objectives)::text AS goals
		FROM customers
		WHERE customer_id = $1`)
	if err != nil {
		t.Fatalf("SetProfileQuery: %v", err)
	}

	a := storetest.MustLoad(t, s, "c-1")
	if a.User.ID != "c-1" || a.User.Name != "Ada Lovelace" || a.User.Disabled {
		t.Errorf("user = %+v", a.User)
	}
	storetest.AssertProfile(t, a.Profile, store.Profile{
		Currency: "GBP", MonthlyIncome: 5200.5, MonthlyExpenses: 3100, Savings: 15000.25,
		RiskTolerance: "medium", Goals: []string{"Pay off the car", "Save for a deposit"},
	})
	a = storetest.MustLoad(t, s, "c-2")
	if !a.User.Disabled || !a.Profile.Empty() {
		t.Errorf("closed customer = %+v, want disabled with an empty profile", a)
	}
	if _, err := s.LoadAccount(ctx, "c-3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing customer: err = %v, want ErrNotFound", err)
	}
}

// A unique constraint other than the id's still reads as ErrExists.
func TestAddUserUniqueViolation(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, storetest.PostgresSchemas(t)(t))
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := s.SQL().ExecContext(ctx, `CREATE UNIQUE INDEX users_name ON users (name)`); err != nil {
		t.Fatalf("create index: %v", err)
	}
	storetest.MustAdd(t, s, store.User{ID: "u1", Name: "taken"})
	if err := s.AddUser(ctx, store.User{ID: "u2", Name: "taken"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddUser with a taken name: err = %v, want ErrExists", err)
	}
}

func BenchmarkLoadAccount(b *testing.B) {
	storetest.RunLoadAccountBenchmark(b, mustOpen(b, storetest.PostgresSchemas(b)(b)))
}

func BenchmarkLoadAccountHistory(b *testing.B) {
	storetest.RunLoadAccountHistoryBenchmark(b, mustOpen(b, storetest.PostgresSchemas(b)(b)))
}

func BenchmarkSeedUsers(b *testing.B) {
	dsns := storetest.PostgresSchemas(b)
	storetest.RunSeedUsersBenchmark(b, func(tb testing.TB) store.Accounts { return mustOpen(tb, dsns(tb)) })
}
