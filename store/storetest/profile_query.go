package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/wealthwarriors/wealthcoach/store"
)

// The profile query tests map the store's own tables, renamed and
// reshaped, as an operator would map theirs; that keeps them to SQL both
// dialects accept.

func testProfileQuery(t *testing.T, b Backend) {
	ctx := t.Context()
	s := migrated(t, b.Open)
	MustAdd(t, s, store.User{ID: "u1", Name: "Ada"})
	MustAdd(t, s, store.User{ID: "u2", Disabled: true})
	err := s.PutProfile(ctx, "u1", store.Profile{
		Currency: "INR", MonthlyIncome: 1000.5, Savings: 250, Goals: []string{"built-in"},
	})
	if err != nil {
		t.Fatalf("PutProfile: %v", err)
	}
	q := `SELECT u.id, u.name AS NAME, u.disabled, p.currency,
		p.monthly_income, p.savings AS Savings,
		CASE WHEN u.id = 'u1' THEN 'Retire early, buy a home ,, ' ELSE '["JSON, kept whole", "two"]' END AS goals,
		'advanced' AS experience
	FROM users u LEFT JOIN profiles p ON p.user_id = u.id
	WHERE u.id = ` + b.Param
	if err := s.SetProfileQuery(q); err != nil {
		t.Fatalf("SetProfileQuery: %v", err)
	}

	a := MustLoad(t, s, "u1")
	if a.User.ID != "u1" || a.User.Name != "Ada" || a.User.Disabled {
		t.Errorf("user = %+v", a.User)
	}
	AssertProfile(t, a.Profile, store.Profile{
		Currency: "INR", MonthlyIncome: 1000.5, Savings: 250,
		Goals: []string{"Retire early", "buy a home"}, Experience: "advanced",
	})

	a = MustLoad(t, s, "u2")
	if !a.User.Disabled {
		t.Error("u2 loads enabled")
	}
	AssertProfile(t, a.Profile, store.Profile{
		Goals: []string{"JSON, kept whole", "two"}, Experience: "advanced",
	})

	for _, id := range []string{"nobody", "bad\x00id"} {
		if _, err := s.LoadAccount(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LoadAccount(%q) err = %v, want ErrNotFound", id, err)
		}
	}

	// A blank query brings the built-in one back.
	if err := s.SetProfileQuery(" "); err != nil {
		t.Fatalf("SetProfileQuery(blank): %v", err)
	}
	if got := MustLoad(t, s, "u1").Profile.Goals; len(got) != 1 || got[0] != "built-in" {
		t.Errorf("after reset goals = %q, want the built-in query's", got)
	}
}

func testProfileQueryErrors(t *testing.T, b Backend) {
	ctx := t.Context()
	s := migrated(t, b.Open)
	MustAdd(t, s, store.User{ID: "u1"})
	MustAdd(t, s, store.User{ID: "u2"})

	if err := s.SetProfileQuery(`SELECT id FROM users`); err == nil {
		t.Error("SetProfileQuery accepted a query without a parameter")
	}

	// Each fails at load, as a store failure rather than an unknown user,
	// so a mistake in the mapping is loud instead of locking everyone out
	// as "not found".
	tests := []struct {
		name, query string
		want        []string
	}{
		{"unknown columns", `SELECT id, name AS nickname, 1 AS shoe_size FROM users WHERE id = ` + b.Param,
			[]string{"nickname", "shoe_size"}},
		{"no id", `SELECT name FROM users WHERE id = ` + b.Param, []string{"no id column"}},
		{"repeated column", `SELECT id, name, name FROM users WHERE id = ` + b.Param, []string{"repeated", "name"}},
		{"two rows", `SELECT id FROM users WHERE id = ` + b.Param + ` OR id = 'u2'`, []string{"more than one row"}},
		{"bad goals", `SELECT id, '[not json' AS goals FROM users WHERE id = ` + b.Param, []string{"goals"}},
		{"not SQL", `SELEKT ` + b.Param, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.SetProfileQuery(tt.query); err != nil {
				t.Fatalf("SetProfileQuery: %v", err)
			}
			_, err := s.LoadAccount(ctx, "u1")
			if err == nil || errors.Is(err, store.ErrNotFound) {
				t.Fatalf("LoadAccount err = %v, want a store failure", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}
