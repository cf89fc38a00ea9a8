package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// benchOptions are a typical production configuration.
var benchOptions = Options{Secret: testSecret, Issuer: "wealthcoach", Audience: "app", Leeway: 30 * time.Second}

func benchToken(b *testing.B, o MintOptions) string {
	o.UserID, o.Issuer, o.Audience = "user-000123", "wealthcoach", "app"
	return mustMint(b, o)
}

func BenchmarkVerifyHS256(b *testing.B) {
	v := mustVerifier(b, benchOptions)
	token := benchToken(b, MintOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := v.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256Parallel(b *testing.B) {
	v := mustVerifier(b, benchOptions)
	token := benchToken(b, MintOptions{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := v.Verify(token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyHS256MapClaims is the baseline the claims decoder is
// measured against: the same parser options with jwt.MapClaims (and JSON
// numbers, which a numeric user id needs to stay exact).
func BenchmarkVerifyHS256MapClaims(b *testing.B) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(benchOptions.Leeway), jwt.WithIssuer(benchOptions.Issuer), jwt.WithAudience(benchOptions.Audience),
		jwt.WithJSONNumber(),
	)
	var key any = testSecret
	keyFunc := func(*jwt.Token) (any, error) { return key, nil }
	token := benchToken(b, MintOptions{})
	b.ReportAllocs()
	for b.Loop() {
		c := jwt.MapClaims{}
		if _, err := p.ParseWithClaims(token, c, keyFunc); err != nil {
			b.Fatal(err)
		}
		if _, ok := c["sub"].(string); !ok {
			b.Fatal("no sub")
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) {
	k := testKeys(b)
	o := benchOptions
	o.Algorithms, o.PublicKeyPEM = []string{"ES256"}, k.p256.pubPEM
	v := mustVerifier(b, o)
	token := benchToken(b, MintOptions{Algorithm: "ES256", PrivateKeyPEM: k.p256.privPEM})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := v.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRejectBadSignature(b *testing.B) {
	v := mustVerifier(b, benchOptions)
	token := benchToken(b, MintOptions{Secret: []byte("wrong-secret")})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := v.Verify(token); err == nil {
			b.Fatal("accepted")
		}
	}
}
