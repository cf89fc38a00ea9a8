package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestOpenSQLitePragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "w.db")
	s, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	defer s.Close()
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
			if err := s.sqlDB.db.GetContext(t.Context(), &got, "PRAGMA "+tt.pragma); err != nil {
				t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
			}
			if !strings.EqualFold(got, tt.want) {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

func TestOpenSQLiteMemory(t *testing.T) {
	ctx := t.Context()
	s, err := OpenSQLite(ctx, ":memory:")
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := s.SeedDemo(ctx); err != nil {
		t.Fatalf("SeedDemo: %v", err)
	}
	if _, err := s.LoadAccount(ctx, DemoUserID); err != nil {
		t.Fatalf("LoadAccount: %v", err)
	}
}

func TestOpenSQLiteErrors(t *testing.T) {
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
			if s, err := OpenSQLite(context.Background(), tt.path); err == nil {
				s.Close()
				t.Errorf("OpenSQLite(%q) succeeded", tt.path)
			}
		})
	}
}

// A deleted user takes its profile along: the foreign key is enforced on
// every pooled connection, not only the first.
func TestSQLiteProfileCascade(t *testing.T) {
	ctx := t.Context()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := s.SeedDemo(ctx); err != nil {
		t.Fatalf("SeedDemo: %v", err)
	}
	if _, err := s.sqlDB.db.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, DemoUserID); err != nil {
		t.Fatalf("delete user: %v", err)
	}
	var n int
	if err := s.sqlDB.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM profiles`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d profile rows left after deleting their user", n)
	}
}

// Processes sharing one file may migrate it at once; each migration runs
// once and none of them fails.
func TestSQLiteConcurrentMigrate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "w.db")
	const servers = 4
	stores := make([]*SQLite, servers)
	for i := range stores {
		s, err := OpenSQLite(ctx, path)
		if err != nil {
			t.Fatalf("OpenSQLite: %v", err)
		}
		defer s.Close()
		stores[i] = s
	}
	var wg sync.WaitGroup
	errs := make([]error, servers)
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: Migrate: %v", i, err)
		}
	}
	var n int
	if err := stores[0].sqlDB.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM schema_migrations`); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("schema_migrations has %d rows, want 1", n)
	}
}

// A unique constraint other than the id's still reads as ErrExists.
func TestSQLiteAddUserUniqueViolation(t *testing.T) {
	ctx := t.Context()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := s.sqlDB.db.ExecContext(ctx, `CREATE UNIQUE INDEX users_name ON users (name)`); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser(ctx, User{ID: "u1", Name: "taken"}); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	if err := s.AddUser(ctx, User{ID: "u2", Name: "taken"}); !errors.Is(err, ErrExists) {
		t.Errorf("AddUser with a taken name: err = %v, want ErrExists", err)
	}
}
