package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
)

// Backend is one user store under RunAccountsSuite.
type Backend struct {
	// Open returns a fresh, empty, unmigrated store that it closes when the
	// test ends.
	Open func(tb testing.TB) store.Accounts
	// Param is how a query writes its one parameter in the driver's
	// dialect: "?" or "$1".
	Param string
}

// RunAccountsSuite is the behaviour every user store must share, run
// against b.
func RunAccountsSuite(t *testing.T, b Backend) {
	tests := []struct {
		name string
		run  func(t *testing.T, open func(tb testing.TB) store.Accounts)
	}{
		{"Migrate", testMigrate},
		{"Ping", testPing},
		{"SeedDemo", testSeedDemo},
		{"UserWithoutProfile", testUserWithoutProfile},
		{"Missing", testMissing},
		{"Disabled", testDisabled},
		{"AddUserDuplicate", testAddUserDuplicate},
		{"PutProfile", testPutProfile},
		{"SeedUsers", testSeedUsers},
		{"InvalidIDs", testInvalidIDs},
		{"ConcurrentLoad", testConcurrentLoad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, b.Open) })
	}
	t.Run("ProfileQuery", func(t *testing.T) { testProfileQuery(t, b) })
	t.Run("ProfileQueryErrors", func(t *testing.T) { testProfileQueryErrors(t, b) })
}

// migrated opens a store through open and brings its schema up to date.
func migrated(t *testing.T, open func(tb testing.TB) store.Accounts) store.Accounts {
	t.Helper()
	s := open(t)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func testMigrate(t *testing.T, open func(tb testing.TB) store.Accounts) {
	ctx := t.Context()
	s := open(t)
	before, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatalf("MigrationStatus before Migrate: %v", err)
	}
	if len(before) == 0 {
		t.Fatal("MigrationStatus lists no migrations")
	}
	for _, m := range before {
		if m.Applied || !m.AppliedAt.IsZero() {
			t.Errorf("before Migrate: %+v reported applied", m)
		}
	}
	for i := range 2 { // the second run must be a no-op
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate run %d: %v", i+1, err)
		}
	}
	after, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatalf("MigrationStatus after Migrate: %v", err)
	}
	if len(after) != len(before) {
		t.Fatalf("after Migrate: %d migrations, want %d", len(after), len(before))
	}
	for i, m := range after {
		if !m.Applied || m.AppliedAt.IsZero() || m.Name == "" {
			t.Errorf("after Migrate: %+v, want applied with a name and time", m)
		}
		if i > 0 && m.Version <= after[i-1].Version {
			t.Errorf("versions out of order: %d after %d", m.Version, after[i-1].Version)
		}
	}
}

func testPing(t *testing.T, open func(tb testing.TB) store.Accounts) {
	if err := open(t).Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testSeedDemo(t *testing.T, open func(tb testing.TB) store.Accounts) {
	ctx := t.Context()
	s := migrated(t, open)
	for i := range 2 {
		if err := s.SeedDemo(ctx); err != nil {
			t.Fatalf("SeedDemo run %d: %v", i+1, err)
		}
	}
	a := MustLoad(t, s, store.DemoUserID)
	if a.User.Name != "Demo User" || a.User.Disabled || a.User.CreatedAt.IsZero() {
		t.Errorf("demo user = %+v", a.User)
	}
	p := a.Profile
	if p.Currency != "USD" || p.MonthlyIncome != 6500 || p.MonthlyExpenses != 4200 ||
		p.Savings != 12000 || p.Debts != 8000 || p.RiskTolerance != "medium" ||
		p.Experience != "beginner" || len(p.Goals) != 3 || p.UpdatedAt.IsZero() {
		t.Errorf("demo profile = %+v", p)
	}

	// Seeding again must keep what an operator changed.
	p.Currency = "EUR"
	if err := s.PutProfile(ctx, store.DemoUserID, p); err != nil {
		t.Fatalf("PutProfile: %v", err)
	}
	if err := s.SeedDemo(ctx); err != nil {
		t.Fatalf("SeedDemo after edit: %v", err)
	}
	if got := MustLoad(t, s, store.DemoUserID).Profile.Currency; got != "EUR" {
		t.Errorf("after re-seed currency = %q, want the edited EUR", got)
	}
}

func testUserWithoutProfile(t *testing.T, open func(tb testing.TB) store.Accounts) {
	s := migrated(t, open)
	created := time.Date(2024, 3, 1, 12, 30, 0, 0, time.UTC)
	MustAdd(t, s, store.User{ID: "u1", Name: "Ada", CreatedAt: created})
	a := MustLoad(t, s, "u1")
	if a.User.ID != "u1" || a.User.Name != "Ada" || a.User.Disabled || !a.User.CreatedAt.Equal(created) {
		t.Errorf("user = %+v, want u1 Ada created %v", a.User, created)
	}
	if !a.Profile.Empty() {
		t.Errorf("profile = %+v, want empty", a.Profile)
	}

	// A zero CreatedAt means now.
	start := time.Now().Add(-time.Second)
	MustAdd(t, s, store.User{ID: "u2"})
	if got := MustLoad(t, s, "u2").User.CreatedAt; got.Before(start) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("default CreatedAt = %v, want about now", got)
	}
}

func testMissing(t *testing.T, open func(tb testing.TB) store.Accounts) {
	ctx := t.Context()
	s := migrated(t, open)
	tests := []struct {
		name string
		call func() error
	}{
		{"LoadAccount", func() error { _, err := s.LoadAccount(ctx, "nobody"); return err }},
		{"SetDisabled", func() error { return s.SetDisabled(ctx, "nobody", true) }},
		{"PutProfile", func() error { return s.PutProfile(ctx, "nobody", store.Profile{Currency: "USD"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
		})
	}
}

func testDisabled(t *testing.T, open func(tb testing.TB) store.Accounts) {
	ctx := t.Context()
	s := migrated(t, open)
	MustAdd(t, s, store.User{ID: "u1"})
	MustAdd(t, s, store.User{ID: "born-disabled", Disabled: true})
	if !MustLoad(t, s, "born-disabled").User.Disabled {
		t.Error("user added disabled loads enabled")
	}
	for i, disabled := range []bool{true, true, false, true, false} {
		t.Run(fmt.Sprintf("step%d_%v", i, disabled), func(t *testing.T) {
			if err := s.SetDisabled(ctx, "u1", disabled); err != nil {
				t.Fatalf("SetDisabled: %v", err)
			}
			if got := MustLoad(t, s, "u1").User.Disabled; got != disabled {
				t.Errorf("Disabled = %v, want %v", got, disabled)
			}
		})
	}
}

func testAddUserDuplicate(t *testing.T, open func(tb testing.TB) store.Accounts) {
	s := migrated(t, open)
	MustAdd(t, s, store.User{ID: "u1", Name: "first"})
	err := s.AddUser(t.Context(), store.User{ID: "u1", Name: "second"})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second AddUser err = %v, want ErrExists", err)
	}
	if got := MustLoad(t, s, "u1").User.Name; got != "first" {
		t.Errorf("name = %q, want the first user's", got)
	}
}

func testPutProfile(t *testing.T, open func(tb testing.TB) store.Accounts) {
	s := migrated(t, open)
	MustAdd(t, s, store.User{ID: "u1"})
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	// Values are exactly representable so any float column round-trips them.
	tests := []struct {
		name string
		p    store.Profile
	}{
		{"insert", store.Profile{
			Currency: "INR", MonthlyIncome: 150000.5, MonthlyExpenses: 90000.25,
			Savings: 500000, Debts: 0, RiskTolerance: "low",
			Goals:      []string{"Buy a home", `Quotes "and" commas, ünïcode`},
			Experience: "intermediate", UpdatedAt: at,
		}},
		{"replace", store.Profile{
			Currency: "USD", MonthlyIncome: 7000, Savings: 100.75, Debts: 2500,
			RiskTolerance: "high", Goals: []string{"Retire early"},
			Experience: "advanced", UpdatedAt: at.Add(time.Hour),
		}},
		{"clear goals", store.Profile{Currency: "USD", UpdatedAt: at.Add(2 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutProfile(t.Context(), "u1", tt.p); err != nil {
				t.Fatalf("PutProfile: %v", err)
			}
			AssertProfile(t, MustLoad(t, s, "u1").Profile, tt.p)
		})
	}
}

// AssertProfile compares profiles with times by instant, since backends
// differ in the location they read times back in.
func AssertProfile(t *testing.T, got, want store.Profile) {
	t.Helper()
	if !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, want.UpdatedAt)
	}
	got.UpdatedAt, want.UpdatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("profile = %+v, want %+v", got, want)
	}
}

func testSeedUsers(t *testing.T, open func(tb testing.TB) store.Accounts) {
	ctx := t.Context()
	s := migrated(t, open)
	MustAdd(t, s, store.User{ID: "load-7", Name: "kept"})
	// 12,345 spans several inserts and transactions; one id already exists.
	steps := []struct {
		name        string
		count, want int
	}{
		{"first", 12345, 12344},
		{"again", 12345, 0},
		{"grow", 12400, 55},
		{"zero", 0, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			n, err := s.SeedUsers(ctx, "load-", st.count)
			if err != nil || n != st.want {
				t.Fatalf("SeedUsers(%d) = %d, %v; want %d, nil", st.count, n, err, st.want)
			}
		})
	}
	if got := MustLoad(t, s, "load-7").User.Name; got != "kept" {
		t.Errorf("existing user renamed to %q", got)
	}
	a := MustLoad(t, s, "load-12399")
	if a.User.Name != "Load user 12399" || a.User.Disabled || !a.Profile.Empty() {
		t.Errorf("seeded account = %+v", a)
	}
	if _, err := s.LoadAccount(ctx, "load-12400"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("load-12400: err = %v, want ErrNotFound", err)
	}
	if _, err := s.SeedUsers(ctx, "load-", -1); err == nil {
		t.Error("SeedUsers(-1) succeeded")
	}
	if _, err := s.SeedUsers(ctx, "bad\n", 3); !errors.Is(err, store.ErrInvalidID) {
		t.Errorf("SeedUsers with a control character in the prefix: err = %v, want ErrInvalidID", err)
	}
}

func testInvalidIDs(t *testing.T, open func(tb testing.TB) store.Accounts) {
	ctx := t.Context()
	s := migrated(t, open)
	longest := strings.Repeat("x", store.MaxUserIDLen)
	MustAdd(t, s, store.User{ID: longest})
	MustLoad(t, s, longest)
	MustAdd(t, s, store.User{ID: "ünï-ok"})

	tests := []struct{ name, id string }{
		{"empty", ""},
		{"too long", longest + "x"},
		{"NUL", "a\x00b"},
		{"newline", "a\nb"},
		{"DEL", "a\x7fb"},
		{"C1 control", "a\u0085b"},
		{"invalid UTF-8", "a\xffb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.AddUser(ctx, store.User{ID: tt.id}); !errors.Is(err, store.ErrInvalidID) {
				t.Errorf("AddUser err = %v, want ErrInvalidID", err)
			}
			if err := s.PutProfile(ctx, tt.id, store.Profile{}); !errors.Is(err, store.ErrInvalidID) {
				t.Errorf("PutProfile err = %v, want ErrInvalidID", err)
			}
			if err := s.SetDisabled(ctx, tt.id, true); !errors.Is(err, store.ErrInvalidID) {
				t.Errorf("SetDisabled err = %v, want ErrInvalidID", err)
			}
			// Login treats it as an unknown user, not as a store failure.
			_, err := s.LoadAccount(ctx, tt.id)
			if !errors.Is(err, store.ErrNotFound) || !errors.Is(err, store.ErrInvalidID) {
				t.Errorf("LoadAccount err = %v, want ErrNotFound and ErrInvalidID", err)
			}
		})
	}
}

func testConcurrentLoad(t *testing.T, open func(tb testing.TB) store.Accounts) {
	ctx := t.Context()
	s := migrated(t, open)
	if err := s.SeedDemo(ctx); err != nil {
		t.Fatalf("SeedDemo: %v", err)
	}
	const workers, loads = 20, 50
	if _, err := s.SeedUsers(ctx, "c", workers); err != nil {
		t.Fatalf("SeedUsers: %v", err)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			id := fmt.Sprintf("c%d", w)
			for range loads {
				if err := checkLoad(ctx, s, id); err != nil {
					t.Error(err)
					return
				}
				if err := checkLoad(ctx, s, store.DemoUserID); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func checkLoad(ctx context.Context, s store.Accounts, id string) error {
	a, err := s.LoadAccount(ctx, id)
	if err != nil {
		return err
	}
	if a.User.ID != id {
		return fmt.Errorf("LoadAccount(%q) returned user %q", id, a.User.ID)
	}
	if id == store.DemoUserID && len(a.Profile.Goals) != 3 {
		return fmt.Errorf("demo goals = %q", a.Profile.Goals)
	}
	return nil
}

// MustAdd adds u to s or ends the test.
func MustAdd(t *testing.T, s store.Accounts, u store.User) {
	t.Helper()
	if err := s.AddUser(t.Context(), u); err != nil {
		t.Fatalf("AddUser(%q): %v", u.ID, err)
	}
}

// MustLoad loads the account id from s or ends the test.
func MustLoad(t *testing.T, s store.Accounts, id string) store.Account {
	t.Helper()
	a, err := s.LoadAccount(t.Context(), id)
	if err != nil {
		t.Fatalf("LoadAccount(%q): %v", id, err)
	}
	return a
}

// RunLoadAccountBenchmark measures logins on s, serial and parallel, after
// migrating it and seeding the demo user.
func RunLoadAccountBenchmark(b *testing.B, s store.Accounts) {
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.SeedDemo(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.LoadAccount(ctx, store.DemoUserID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.LoadAccount(ctx, store.DemoUserID); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// RunSeedUsersBenchmark measures seeding 100,000 users into a fresh store
// from open each round.
func RunSeedUsersBenchmark(b *testing.B, open func(tb testing.TB) store.Accounts) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		s := open(b)
		if err := s.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if n, err := s.SeedUsers(ctx, "load-", 100_000); err != nil || n != 100_000 {
			b.Fatalf("SeedUsers = %d, %v", n, err)
		}
	}
}
