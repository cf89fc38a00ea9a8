package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// User is an account that may open chat sessions.
type User struct {
	ID        string
	Name      string
	Disabled  bool
	CreatedAt time.Time
}

// Profile is the financial picture the coach personalises its answers with.
// Every field is optional: a user without a profile row chats with the zero
// Profile, and Empty reports that case.
type Profile struct {
	Currency        string  // ISO 4217 code, for example "USD" or "INR"
	MonthlyIncome   float64 // after tax
	MonthlyExpenses float64
	Savings         float64  // liquid savings
	Debts           float64  // total outstanding debt
	RiskTolerance   string   // "low", "medium" or "high"
	Goals           []string // free text, in the user's words
	Experience      string   // "beginner", "intermediate" or "advanced"
	UpdatedAt       time.Time
}

// Empty reports whether the profile carries no information.
func (p Profile) Empty() bool {
	return p.Currency == "" && p.MonthlyIncome == 0 && p.MonthlyExpenses == 0 &&
		p.Savings == 0 && p.Debts == 0 && p.RiskTolerance == "" &&
		len(p.Goals) == 0 && p.Experience == ""
}

// Account is what a session loads once at authentication: the user row,
// its profile row and, when the store keeps conversations, the current
// conversation with its last messages, read together.
type Account struct {
	User    User
	Profile Profile
	// ConversationID is the user's current conversation; empty when the
	// store keeps none.
	ConversationID string
	// History is the last messages of that conversation, oldest first, at
	// most the number the store was opened to load.
	History []Message
}

// DemoUserID is the user seeded into a new embedded store, so that the
// server is usable on first run.
const DemoUserID = "demo"

// MaxUserIDLen is the longest user id accepted, in bytes. User ids arrive in
// token claims, so they are bounded before they reach a query or a log line.
const MaxUserIDLen = 128

// ValidateUserID reports, wrapping ErrInvalidID, why id cannot name a user:
// it must be non-empty valid UTF-8 of at most MaxUserIDLen bytes without
// control characters.
func ValidateUserID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidID)
	case len(id) > MaxUserIDLen:
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidID, len(id), MaxUserIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidID)
	case strings.ContainsFunc(id, unicode.IsControl):
		return fmt.Errorf("%w: contains a control character", ErrInvalidID)
	}
	return nil
}

// AccountLoader loads a user and their profile in one call, as a session
// does at authentication. It reports a missing user with an error wrapping
// ErrNotFound.
type AccountLoader interface {
	LoadAccount(ctx context.Context, userID string) (Account, error)
}

// Accounts is the user store: accounts, their profiles and the schema that
// holds them. The commands use all of it; a session only loads.
type Accounts interface {
	AccountLoader
	// AddUser creates a user, returning ErrExists if the id is taken.
	// A zero CreatedAt means now.
	AddUser(ctx context.Context, u User) error
	// PutProfile creates or replaces the profile of an existing user,
	// returning ErrNotFound if there is no such user. A zero UpdatedAt
	// means now.
	PutProfile(ctx context.Context, userID string, p Profile) error
	// SetDisabled disables or re-enables a user, returning ErrNotFound if
	// there is no such user.
	SetDisabled(ctx context.Context, userID string, disabled bool) error
	// SeedUsers creates users prefix0 .. prefix{count-1}, skipping ids that
	// exist, and returns how many it created.
	SeedUsers(ctx context.Context, prefix string, count int) (int, error)
	// SeedDemo creates the DemoUserID user with a sample profile unless
	// they exist.
	SeedDemo(ctx context.Context) error
	// SetProfileQuery makes LoadAccount read accounts with an operator's
	// query (see the package documentation); blank restores the built-in
	// one.
	SetProfileQuery(q string) error
	// Migrate applies the pending schema migrations. Servers starting
	// together may all call it.
	Migrate(ctx context.Context) error
	// MigrationStatus lists every migration with whether it has been
	// applied.
	MigrationStatus(ctx context.Context) ([]MigrationState, error)
	// Ping checks that the database can be reached.
	Ping(ctx context.Context) error
	// Close releases the database. Calls in flight finish first.
	Close() error
}
