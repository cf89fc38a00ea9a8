package storetest

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"

	"github.com/wealthwarriors/wealthcoach/store"
)

// SQLStore is a SQL user and conversation store with its pool reachable,
// so a test can set tables up and look at them directly.
type SQLStore interface {
	JournalStore
	SQL() *sqlx.DB
}

// MigrationBackend is one SQL user store under RunMigrationSuite.
type MigrationBackend struct {
	// NewDatabase returns the DSN of an empty database no other test uses.
	NewDatabase func(t *testing.T) string
	// Open opens a store on dsn without migrating it and closes it when the
	// test ends.
	Open func(t *testing.T, dsn string) SQLStore
	// Bind is the driver's sqlx bind type: sqlx.QUESTION or sqlx.DOLLAR.
	Bind int
	// Goose is the dialect goose migrates the database in.
	Goose goose.Dialect
	// Files are the backend's migration files, NNNN_name.sql at the root.
	// The runner that came before goose applied them as they stand.
	Files fs.FS
}

// The bookkeeping of the migration runner that came before goose, as it
// created and filled it: servers upgraded from it find this table.
const (
	legacyHistoryDDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TIMESTAMP NOT NULL
)`
	legacyHistoryInsert = `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`
)

// legacyRow is one version the old runner recorded.
type legacyRow struct {
	version int
	name    string
	at      time.Time
}

// Times the old runner recorded, whole seconds in UTC as it wrote them, so
// they compare exactly after a round trip through any driver.
var (
	initAppliedAt  = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	newerAppliedAt = time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
)

// RunMigrationSuite is how every SQL store migrates: from nothing, from a
// database the runner before goose migrated, and with several servers
// starting at once.
func RunMigrationSuite(t *testing.T, b MigrationBackend) {
	t.Run("Fresh", func(t *testing.T) { testMigrateFresh(t, b) })
	t.Run("Adopt", func(t *testing.T) { testMigrateAdopt(t, b) })
	t.Run("Concurrent", func(t *testing.T) { testMigrateConcurrent(t, b) })
	t.Run("FromFirstVersion", func(t *testing.T) { testMigrateFromFirst(t, b) })
}

func testMigrateFresh(t *testing.T, b MigrationBackend) {
	ctx := t.Context()
	s := b.Open(t, b.NewDatabase(t))
	before := mustStatus(t, s)
	if len(before) == 0 {
		t.Fatal("MigrationStatus lists no migrations")
	}
	for _, m := range before {
		if m.Applied || !m.AppliedAt.IsZero() || m.Name == "" {
			t.Errorf("before Migrate: %+v, want pending with a name", m)
		}
	}
	for i := range 2 { // the second run must be a no-op
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate run %d: %v", i+1, err)
		}
	}
	after := mustStatus(t, s)
	if len(after) != len(before) {
		t.Fatalf("after Migrate: %d migrations, want %d", len(after), len(before))
	}
	for i, m := range after {
		if !m.Applied || m.AppliedAt.IsZero() || m.Name != before[i].Name {
			t.Errorf("after Migrate: %+v, want %s applied with a time", m, before[i].Name)
		}
	}
	assertAppliedOnce(t, s, after)
	MustAdd(t, s, store.User{ID: "u1"})
	MustLoad(t, s, "u1")
}

// A database the old runner migrated keeps its schema, data and history:
// goose takes the history over and applies none of it again.
func testMigrateAdopt(t *testing.T, b MigrationBackend) {
	tests := []struct {
		name    string
		history []legacyRow
		want    string // status as "version:name:applied", in order
	}{
		// The old runner only ever knew 0001; goose applies the rest.
		{"migrated", []legacyRow{{1, "init", initAppliedAt}}, "1:init:true 2:conversations:false 3:audit:false"},
		// A newer release migrated further; this one still starts, and
		// status shows the version it has no file for.
		{"by a newer release", []legacyRow{{1, "init", initAppliedAt}, {2, "conversations", initAppliedAt},
			{3, "audit", initAppliedAt}, {9999, "later", newerAppliedAt}},
			"1:init:true 2:conversations:true 3:audit:true 9999::true"},
		// `migrate status` on an empty database left the table and no row.
		{"status only", nil, "1:init:false 2:conversations:false 3:audit:false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := b.NewDatabase(t)
			migrated := oldRunnerDatabase(t, b, dsn, tt.history)
			s := b.Open(t, dsn)
			assertStatus(t, s, tt.want) // before Migrate: status must not disturb adoption
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			states := mustStatus(t, s)
			for _, m := range states {
				if !m.Applied {
					t.Errorf("after Migrate: %+v not applied", m)
				}
			}
			assertAppliedOnce(t, s, states)
			if migrated {
				assertAppliedAt(t, states, 1, initAppliedAt)
				if got := MustLoad(t, s, "kept").User.Name; got != "Kept" {
					t.Errorf("user kept from before = %q", got)
				}
			}
			var n int
			if err := s.SQL().GetContext(ctx, &n, `SELECT COUNT(*) FROM schema_migrations`); err != nil || n != len(tt.history) {
				t.Errorf("schema_migrations: %d rows, %v; want the %d it had", n, err, len(tt.history))
			}
		})
	}
}

// Servers starting together all migrate one database; each migration runs
// once and none of them fails, whether the database is new or the old
// runner's.
func testMigrateConcurrent(t *testing.T, b MigrationBackend) {
	const servers = 6
	for _, old := range []bool{false, true} {
		t.Run(map[bool]string{false: "fresh", true: "old runner"}[old], func(t *testing.T) {
			ctx := t.Context()
			dsn := b.NewDatabase(t)
			if old {
				oldRunnerDatabase(t, b, dsn, []legacyRow{{1, "init", initAppliedAt}})
			}
			stores := make([]SQLStore, servers)
			for i := range stores {
				stores[i] = b.Open(t, dsn)
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
			states := mustStatus(t, stores[0])
			for _, m := range states {
				if !m.Applied {
					t.Errorf("%+v not applied", m)
				}
			}
			assertAppliedOnce(t, stores[0], states)
			if old {
				assertAppliedAt(t, states, 1, initAppliedAt)
			}
		})
	}
}

// oldRunnerDatabase leaves dsn as the runner before goose would have: the
// files of the recorded versions it has applied, its history table, and a
// user. It reports whether the schema is there.
func oldRunnerDatabase(t *testing.T, b MigrationBackend, dsn string, history []legacyRow) bool {
	t.Helper()
	ctx := context.Background()
	db := b.Open(t, dsn).SQL()
	migrated := len(history) > 0 && history[0].version == 1
	for _, r := range history {
		body, ok := migrationBody(t, b.Files, r.version)
		if !ok {
			continue // a newer release's file
		}
		if _, err := db.ExecContext(ctx, body); err != nil {
			t.Fatalf("apply migration %d: %v", r.version, err)
		}
	}
	if _, err := db.ExecContext(ctx, legacyHistoryDDL); err != nil {
		t.Fatalf("create schema_migrations: %v", err)
	}
	for _, r := range history {
		if _, err := db.ExecContext(ctx, sqlx.Rebind(b.Bind, legacyHistoryInsert), r.version, r.name, r.at); err != nil {
			t.Fatalf("record version %d: %v", r.version, err)
		}
	}
	if migrated {
		_, err := db.ExecContext(ctx, sqlx.Rebind(b.Bind, `INSERT INTO users (id, name, disabled, created_at) VALUES (?, ?, false, ?)`),
			"kept", "Kept", time.Now().UTC())
		if err != nil {
			t.Fatalf("add user: %v", err)
		}
	}
	return migrated
}

// migrationBody is the text of the file for version, if there is one.
func migrationBody(t *testing.T, files fs.FS, version int) (string, bool) {
	t.Helper()
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		t.Fatalf("list migrations: %v", err)
	}
	for _, name := range names {
		if v, err := goose.NumericComponent(name); err == nil && v == int64(version) {
			body, err := fs.ReadFile(files, name)
			if err != nil {
				t.Fatalf("read %s: %v", name, err)
			}
			return string(body), true
		}
	}
	return "", false
}

// A database the previous release left at version 1, with goose, takes
// 0002 and keeps its users; conversations then work on it.
func testMigrateFromFirst(t *testing.T, b MigrationBackend) {
	ctx := t.Context()
	s := b.Open(t, b.NewDatabase(t))
	p, err := goose.NewProvider(b.Goose, s.SQL().DB, b.Files, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatalf("goose provider: %v", err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	MustAdd(t, s, store.User{ID: "kept", Name: "Kept"})
	if err := s.PutProfile(ctx, "kept", store.Profile{Currency: "EUR"}); err != nil {
		t.Fatalf("PutProfile: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	assertStatus(t, s, "1:init:true 2:conversations:true 3:audit:true")
	s.SetHistoryMessages(10)
	conv := store.FirstConversationID("kept")
	msgs := Exchanges("kept", conv, "a", 1, baseTime)
	if err := s.AppendMessages(ctx, msgs); err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	a := MustLoad(t, s, "kept")
	if a.User.Name != "Kept" || a.Profile.Currency != "EUR" || a.ConversationID != conv {
		t.Errorf("account after the upgrade = %+v", a)
	}
	AssertMessages(t, a.History, msgs)
}

func mustStatus(t *testing.T, s store.Accounts) []store.MigrationState {
	t.Helper()
	states, err := s.MigrationStatus(t.Context())
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	for i := 1; i < len(states); i++ {
		if states[i].Version <= states[i-1].Version {
			t.Errorf("versions out of order: %d after %d", states[i].Version, states[i-1].Version)
		}
	}
	return states
}

// assertStatus compares the status with "version:name:applied" words.
func assertStatus(t *testing.T, s store.Accounts, want string) {
	t.Helper()
	var got []string
	for _, m := range mustStatus(t, s) {
		got = append(got, fmt.Sprintf("%d:%s:%v", m.Version, m.Name, m.Applied))
		if m.Applied == m.AppliedAt.IsZero() {
			t.Errorf("version %d: applied %v but AppliedAt %v", m.Version, m.Applied, m.AppliedAt)
		}
	}
	if g := strings.Join(got, " "); g != want {
		t.Errorf("status = %q, want %q", g, want)
	}
}

func assertAppliedAt(t *testing.T, states []store.MigrationState, version int, want time.Time) {
	t.Helper()
	for _, m := range states {
		if m.Version == version {
			if !m.AppliedAt.Equal(want) {
				t.Errorf("version %d applied at %v, want %v from the old history", version, m.AppliedAt, want)
			}
			return
		}
	}
	t.Errorf("version %d missing from status", version)
}

// assertAppliedOnce checks goose's record: one row per applied version,
// none twice, which a migration applied again would leave.
func assertAppliedOnce(t *testing.T, s SQLStore, states []store.MigrationState) {
	t.Helper()
	var versions []int64
	err := s.SQL().SelectContext(t.Context(), &versions,
		`SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY version_id`)
	if err != nil {
		t.Fatalf("read goose_db_version: %v", err)
	}
	var want []int64
	for _, m := range states {
		want = append(want, int64(m.Version))
	}
	if fmt.Sprint(versions) != fmt.Sprint(want) {
		t.Errorf("goose_db_version records %v, want %v once each", versions, want)
	}
}
