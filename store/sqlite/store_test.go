package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/sqlite"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.RunAccountsSuite(t, storetest.Backend{
		Open:  func(tb testing.TB) store.Accounts { return openFresh(tb) },
		Param: "?",
	})
}

func TestJournal(t *testing.T) {
	storetest.RunJournalSuite(t, storetest.JournalBackend{
		Open:  func(tb testing.TB) storetest.JournalStore { return openFresh(tb) },
		Param: "?",
	})
}

func TestMigrations(t *testing.T) {
	storetest.RunMigrationSuite(t, storetest.MigrationBackend{
		NewDatabase: func(t *testing.T) string { return filepath.Join(t.TempDir(), "data", "w.db") },
		Open:        func(t *testing.T, path string) storetest.SQLStore { return mustOpen(t, path) },
		Bind:        sqlx.QUESTION,
		Goose:       goose.DialectSQLite3,
		Files:       os.DirFS("migrations"),
	})
}

// openFresh opens a fresh, unmigrated database in a directory that does
// not exist yet, so every run also checks that the parent is created.
func openFresh(tb testing.TB) *sqlite.Store {
	tb.Helper()
	return mustOpen(tb, filepath.Join(tb.TempDir(), "data", "wealthcoach.db"))
}

func mustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func migratedStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s := mustOpen(t, filepath.Join(t.TempDir(), "w.db"))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestOpenPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "w.db")
	s := mustOpen(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
	tests := []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"busy_timeout", "5000"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			if err := s.SQL().GetContext(t.Context(), &got, "PRAGMA "+tt.pragma); err != nil {
				t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
			}
			if !strings.EqualFold(got, tt.want) {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

func TestOpenMemory(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, ":memory:")
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := s.SeedDemo(ctx); err != nil {
		t.Fatalf("SeedDemo: %v", err)
	}
	if _, err := s.LoadAccount(ctx, store.DemoUserID); err != nil {
		t.Fatalf("LoadAccount: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path string }{
		{"empty path", ""},
		{"parent is a file", filepath.Join(blocker, "w.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := sqlite.Open(context.Background(), tt.path); err == nil {
				s.Close()
				t.Errorf("Open(%q) succeeded", tt.path)
			}
		})
	}
}

// Migrating leaves the lock file beside the database, where every
// process migrating it looks for it.
func TestMigrateLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s := mustOpen(t, path)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := os.Stat(path + ".migrate-lock"); err != nil {
		t.Errorf("lock file: %v", err)
	}
}

// A deleted user takes its profile along: the foreign key is enforced on
// every pooled connection, not only the first.
func TestProfileCascade(t *testing.T) {
	ctx := t.Context()
	s := migratedStore(t)
	if err := s.SeedDemo(ctx); err != nil {
		t.Fatalf("SeedDemo: %v", err)
	}
	if _, err := s.SQL().ExecContext(ctx, `DELETE FROM users WHERE id = ?`, store.DemoUserID); err != nil {
		t.Fatalf("delete user: %v", err)
	}
	var n int
	if err := s.SQL().GetContext(ctx, &n, `SELECT COUNT(*) FROM profiles`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d profile rows left after deleting their user", n)
	}
}

// A unique constraint other than the id's still reads as ErrExists.
func TestAddUserUniqueViolation(t *testing.T) {
	ctx := t.Context()
	s := migratedStore(t)
	if _, err := s.SQL().ExecContext(ctx, `CREATE UNIQUE INDEX users_name ON users (name)`); err != nil {
		t.Fatal(err)
	}
	storetest.MustAdd(t, s, store.User{ID: "u1", Name: "taken"})
	if err := s.AddUser(ctx, store.User{ID: "u2", Name: "taken"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddUser with a taken name: err = %v, want ErrExists", err)
	}
}

func BenchmarkLoadAccount(b *testing.B) {
	storetest.RunLoadAccountBenchmark(b, openFresh(b))
}

func BenchmarkLoadAccountHistory(b *testing.B) {
	storetest.RunLoadAccountHistoryBenchmark(b, openFresh(b))
}

func BenchmarkSeedUsers(b *testing.B) {
	storetest.RunSeedUsersBenchmark(b, func(tb testing.TB) store.Accounts { return openFresh(tb) })
}
