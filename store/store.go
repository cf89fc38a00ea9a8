package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrNotFound is returned when the user asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when a user being added already exists.
var ErrExists = errors.New("already exists")

// ErrInvalidID is returned for a user id that no user can have.
var ErrInvalidID = errors.New("invalid user id")

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

// Account is what a session loads once at authentication: the user row and
// its profile row, read together.
type Account struct {
	User    User
	Profile Profile
}

// DemoUserID is the user seeded into a new embedded store, so that the
// server is usable on first run.
const DemoUserID = "demo"
