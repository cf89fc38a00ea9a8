package store_test

import (
	"database/sql"
	"errors"
	"sync"
	"testing"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

// Servers starting together all migrate the same database; each migration
// must run once and none of them may fail.
func TestPostgresConcurrentMigrate(t *testing.T) {
	ctx := t.Context()
	dsn := storetest.PostgresURL(t)
	const servers = 6
	stores := make([]*store.Postgres, servers)
	for i := range stores {
		s, err := store.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		defer s.Close()
		stores[i] = s
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, servers)
	for i, s := range stores {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("server %d: Migrate: %v", i, err)
		}
	}
	states, err := stores[0].MigrationStatus(ctx)
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	for _, st := range states {
		if !st.Applied {
			t.Errorf("migration %d not applied", st.Version)
		}
	}
	db := openSQL(t, dsn)
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(states) {
		t.Errorf("schema_migrations has %d rows for %d migrations", rows, len(states))
	}
}

// The mapping shown in the package documentation, run against a table
// shaped like a real customer table: NUMERIC money, a status column, an
// array of goals.
func TestPostgresProfileQueryCustomers(t *testing.T) {
	ctx := t.Context()
	s, dsn := postgresOpener(t)(t)
	db := openSQL(t, dsn)
	_, err := db.ExecContext(ctx, `
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

	a := mustLoad(t, s, "c-1")
	if a.User.ID != "c-1" || a.User.Name != "Ada Lovelace" || a.User.Disabled {
		t.Errorf("user = %+v", a.User)
	}
	assertProfile(t, a.Profile, store.Profile{
		Currency: "GBP", MonthlyIncome: 5200.5, MonthlyExpenses: 3100, Savings: 15000.25,
		RiskTolerance: "medium", Goals: []string{"Pay off the car", "Save for a deposit"},
	})
	a = mustLoad(t, s, "c-2")
	if !a.User.Disabled || !a.Profile.Empty() {
		t.Errorf("closed customer = %+v, want disabled with an empty profile", a)
	}
	if _, err := s.LoadAccount(ctx, "c-3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing customer: err = %v, want ErrNotFound", err)
	}
}

// A unique constraint other than the id's still reads as ErrExists.
func TestPostgresAddUserUniqueViolation(t *testing.T) {
	ctx := t.Context()
	s, dsn := postgresOpener(t)(t)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := openSQL(t, dsn).ExecContext(ctx, `CREATE UNIQUE INDEX users_name ON users (name)`); err != nil {
		t.Fatalf("create index: %v", err)
	}
	mustAdd(t, s, store.User{ID: "u1", Name: "taken"})
	if err := s.AddUser(ctx, store.User{ID: "u2", Name: "taken"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddUser with a taken name: err = %v, want ErrExists", err)
	}
}

func openSQL(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
