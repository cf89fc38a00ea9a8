package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jmoiron/sqlx"
)

// testMigrator runs files against a fresh SQLite database.
func testMigrator(t *testing.T, files fstest.MapFS) migrator {
	t.Helper()
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return migrator{db: s.sqlDB.db, fsys: files, bind: sqlx.QUESTION}
}

func file(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }

func TestMigratorOrderAndResume(t *testing.T) {
	ctx := t.Context()
	files := fstest.MapFS{
		"0002_add_b.sql": file(`CREATE TABLE b (id INTEGER); INSERT INTO b VALUES (2);`),
		"0001_add_a.sql": file(`CREATE TABLE a (id INTEGER);`),
		"README.md":      file(`not a migration`),
	}
	m := testMigrator(t, files)
	if err := m.migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// A later binary ships a third file; only it runs.
	files["0010_add_c.sql"] = file(`CREATE TABLE c (id INTEGER);`)
	if err := m.migrate(ctx); err != nil {
		t.Fatalf("migrate with a new file: %v", err)
	}
	assertStatus(t, m, "1:add_a:true 2:add_b:true 10:add_c:true")

	// A database migrated further than the files still shows its versions.
	delete(files, "0010_add_c.sql")
	assertStatus(t, m, "1:add_a:true 2:add_b:true 10:add_c:true")
}

func TestMigratorFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	files := fstest.MapFS{
		"0001_ok.sql":     file(`CREATE TABLE a (id INTEGER);`),
		"0002_broken.sql": file(`CREATE TABLE b (id INTEGER); NOT SQL AT ALL;`),
	}
	m := testMigrator(t, files)
	err := m.migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "0002_broken.sql") {
		t.Fatalf("migrate err = %v, want one naming 0002_broken.sql", err)
	}
	assertStatus(t, m, "1:ok:true 2:broken:false")
	var n int
	err = m.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'`)
	if err != nil || n != 0 {
		t.Errorf("table from the failed migration: count %d, err %v; want rolled back", n, err)
	}

	files["0002_broken.sql"] = file(`CREATE TABLE b (id INTEGER);`)
	if err := m.migrate(ctx); err != nil {
		t.Fatalf("migrate after fix: %v", err)
	}
	assertStatus(t, m, "1:ok:true 2:broken:true")
}

func TestLoadMigrationsRejects(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
	}{
		{"no number", fstest.MapFS{"init.sql": file("")}},
		{"no name", fstest.MapFS{"0001.sql": file("")}},
		{"zero version", fstest.MapFS{"0000_init.sql": file("")}},
		{"not a number", fstest.MapFS{"v1_init.sql": file("")}},
		{"duplicate version", fstest.MapFS{"0001_a.sql": file(""), "1_b.sql": file("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := loadMigrations(tt.files); err == nil {
				t.Error("loadMigrations accepted the files")
			}
		})
	}
}

// assertStatus compares the status with "version:name:applied" words.
func assertStatus(t *testing.T, m migrator, want string) {
	t.Helper()
	states, err := m.status(context.Background())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	var got []string
	for _, s := range states {
		got = append(got, fmt.Sprintf("%d:%s:%v", s.Version, s.Name, s.Applied))
		if s.Applied == s.AppliedAt.IsZero() {
			t.Errorf("version %d: applied %v but AppliedAt %v", s.Version, s.Applied, s.AppliedAt)
		}
	}
	if g := strings.Join(got, " "); g != want {
		t.Errorf("status = %q, want %q", g, want)
	}
}
