package sqlite

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func file(sql string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- +goose Up\n" + sql)}
}

// openWith opens the database at path with the given migration files, as a
// binary shipping those files would.
func openWith(t *testing.T, path string, files fstest.MapFS) *Store {
	t.Helper()
	s, err := open(t.Context(), path, files)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMigrateOrderAndResume(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "m.db")
	files := fstest.MapFS{
		"0002_add_b.sql": file(`CREATE TABLE b (id INTEGER); INSERT INTO b VALUES (2);`),
		"0001_add_a.sql": file(`CREATE TABLE a (id INTEGER);`),
		"README.md":      &fstest.MapFile{Data: []byte(`not a migration`)},
	}
	if err := openWith(t, path, files).Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	// A later binary ships a third file: status shows it pending, and only
	// it runs.
	files["0010_add_c.sql"] = file(`CREATE TABLE c (id INTEGER);`)
	later := openWith(t, path, files)
	assertStatus(t, later, "1:add_a:true 2:add_b:true 10:add_c:false")
	if err := later.Migrate(ctx); err != nil {
		t.Fatalf("Migrate with a new file: %v", err)
	}
	assertStatus(t, later, "1:add_a:true 2:add_b:true 10:add_c:true")
	var n int
	if err := later.SQL().GetContext(ctx, &n, `SELECT COUNT(*) FROM b`); err != nil || n != 1 {
		t.Errorf("rows in b: %d, %v; want 1, from one run of 0002", n, err)
	}

	// A database migrated further than the files still shows its versions.
	delete(files, "0010_add_c.sql")
	assertStatus(t, openWith(t, path, files), "1:add_a:true 2:add_b:true 10::true")
}

func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "m.db")
	files := fstest.MapFS{
		"0001_ok.sql":     file(`CREATE TABLE a (id INTEGER);`),
		"0002_broken.sql": file(`CREATE TABLE b (id INTEGER); NOT SQL AT ALL;`),
	}
	s := openWith(t, path, files)
	err := s.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "0002_broken.sql") {
		t.Fatalf("Migrate err = %v, want one naming 0002_broken.sql", err)
	}
	assertStatus(t, s, "1:ok:true 2:broken:false")
	var n int
	err = s.SQL().GetContext(ctx, &n, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'`)
	if err != nil || n != 0 {
		t.Errorf("table from the failed migration: count %d, err %v; want rolled back", n, err)
	}

	files["0002_broken.sql"] = file(`CREATE TABLE b (id INTEGER);`)
	fixed := openWith(t, path, files)
	if err := fixed.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after the fix: %v", err)
	}
	assertStatus(t, fixed, "1:ok:true 2:broken:true")
}

func TestOpenRejectsMigrationFiles(t *testing.T) {
	plain := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	// Each set but the last holds a good file too: goose alone would skip
	// the bad one and migrate without it.
	tests := []struct {
		name  string
		files fstest.MapFS
	}{
		{"no number", fstest.MapFS{"init.sql": file("")}},
		{"no name", fstest.MapFS{"0002.sql": file("")}},
		{"zero version", fstest.MapFS{"0000_init.sql": file("")}},
		{"not a number", fstest.MapFS{"v2_more.sql": file("")}},
		{"duplicate version", fstest.MapFS{"1_b.sql": file("")}},
		{"no goose mark", fstest.MapFS{"0002_more.sql": plain("CREATE TABLE b (id INTEGER);")}},
		{"no files", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := fstest.MapFS{"README.md": plain("")}
			if tt.files != nil {
				files["0001_ok.sql"] = file("CREATE TABLE a (id INTEGER);")
			}
			maps.Copy(files, tt.files)
			s, err := open(t.Context(), filepath.Join(t.TempDir(), "m.db"), files)
			if err == nil {
				s.Close()
				t.Fatal("open accepted the files")
			}
		})
	}
}

func TestLockPath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/var/lib/wc/w.db", "/var/lib/wc/w.db.migrate-lock"},
		{"data/w.db", "data/w.db.migrate-lock"},
		{"file:data/w.db?cache=shared", "data/w.db.migrate-lock"},
		{"file:///var/w.db", "/var/w.db.migrate-lock"},
		{"file://localhost/var/w.db", "/var/w.db.migrate-lock"},
		{":memory:", ""},
		{"file:mem?mode=memory&cache=shared", ""},
	}
	for _, tt := range tests {
		if got := lockPath(tt.path); got != tt.want {
			t.Errorf("lockPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// Two lockers on one file, as two processes would hold: the second waits
// while the first holds the lock and gets it once it is released.
func TestMigrationLockerExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	first, second := migrationLocker(path), migrationLocker(path)
	if first == nil {
		t.Skip("no file locking on this platform")
	}
	ctx := t.Context()
	if err := first.SessionLock(ctx, nil); err != nil {
		t.Fatalf("first SessionLock: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := second.SessionLock(short, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second SessionLock while the first holds it: err = %v, want a timeout", err)
	}
	if err := first.SessionUnlock(ctx, nil); err != nil {
		t.Fatalf("SessionUnlock: %v", err)
	}
	if err := second.SessionLock(ctx, nil); err != nil {
		t.Fatalf("second SessionLock after release: %v", err)
	}
	if err := second.SessionUnlock(ctx, nil); err != nil {
		t.Fatalf("second SessionUnlock: %v", err)
	}
}

// assertStatus compares the status with "version:name:applied" words.
func assertStatus(t *testing.T, s *Store, want string) {
	t.Helper()
	states, err := s.MigrationStatus(context.Background())
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	var got []string
	for _, m := range states {
		got = append(got, fmt.Sprintf("%d:%s:%v", m.Version, m.Name, m.Applied))
		if m.Applied == m.AppliedAt.IsZero() {
			t.Errorf("version %d: applied %v but AppliedAt %v", m.Version, m.Applied, m.AppliedAt)
		}
	}
	if g := strings.Join(got, " "); g != want {
		t.Errorf("status = %q, want %q", g, want)
	}
}
