package auth

import (
	"testing"
	"time"
)

// TestVerifyReturnsExpiry: Verify gives the token's exp, which a session
// that lives no longer than its token closes at, and nothing for a token
// it refuses.
func TestVerifyReturnsExpiry(t *testing.T) {
	now := time.Unix(time.Now().Unix(), 0) // exp has whole seconds
	tests := []struct {
		name    string
		mint    MintOptions
		verify  Options
		want    time.Time
		refused bool
	}{
		{name: "hour", mint: MintOptions{Now: now, TTL: time.Hour}, want: now.Add(time.Hour)},
		{name: "seconds", mint: MintOptions{Now: now, TTL: 3 * time.Second}, want: now.Add(3 * time.Second)},
		{name: "within leeway", mint: MintOptions{Now: now.Add(-time.Hour), TTL: time.Hour - 5*time.Second},
			verify: Options{Leeway: time.Minute}, want: now.Add(-5 * time.Second)},
		{name: "expired", mint: MintOptions{Now: now.Add(-time.Hour), TTL: time.Minute}, refused: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.verify.Secret = testSecret
			user, exp, err := mustVerifier(t, tc.verify).Verify(mustMint(t, tc.mint))
			if tc.refused {
				if err == nil || user != "" || !exp.IsZero() {
					t.Fatalf("Verify = %q, %v, %v; want a refusal with no user and no expiry", user, exp, err)
				}
				return
			}
			if err != nil || user != "alice" || !exp.Equal(tc.want) {
				t.Fatalf("Verify = %q, %v, %v; want alice, %v", user, exp, err, tc.want)
			}
		})
	}
}
