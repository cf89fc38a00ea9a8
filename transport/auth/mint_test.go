package auth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestMint(t *testing.T) {
	k := testKeys(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa.private.(*rsa.PrivateKey))})
	sec1DER, err := x509.MarshalECPrivateKey(k.p256.private.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1DER})
	pkcs1Public := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.private.(*rsa.PrivateKey).PublicKey)})

	tests := []struct {
		name    string
		mint    MintOptions
		verify  Options
		wantErr string // substring of Mint's error; empty for success
	}{
		{name: "defaults", mint: MintOptions{Secret: testSecret, UserID: "alice"}, verify: Options{Secret: testSecret}},
		{name: "PKCS #1 RSA key", mint: MintOptions{Algorithm: "RS256", PrivateKeyPEM: pkcs1, UserID: "alice"},
			verify: Options{Algorithms: []string{"RS256"}, PublicKeyPEM: pkcs1Public}},
		{name: "SEC 1 EC key", mint: MintOptions{Algorithm: "ES256", PrivateKeyPEM: sec1, UserID: "alice"},
			verify: Options{Algorithms: []string{"ES256"}, PublicKeyPEM: k.p256.pubPEM}},
		{name: "no user id", mint: MintOptions{Secret: testSecret}, wantErr: "empty user id"},
		{name: "no secret", mint: MintOptions{UserID: "alice"}, wantErr: "needs a secret"},
		{name: "no private key", mint: MintOptions{Algorithm: "EdDSA", Secret: testSecret, UserID: "alice"}, wantErr: "needs a private key"},
		{name: "none", mint: MintOptions{Algorithm: "none", Secret: testSecret, UserID: "alice"}, wantErr: `"none" is never allowed`},
		{name: "unsupported algorithm", mint: MintOptions{Algorithm: "ES512", Secret: testSecret, UserID: "alice"}, wantErr: "unsupported algorithm"},
		{name: "negative TTL", mint: MintOptions{Secret: testSecret, UserID: "alice", TTL: -time.Second}, wantErr: "negative TTL"},
		{name: "key of the wrong family", mint: MintOptions{Algorithm: "RS256", PrivateKeyPEM: k.ed.privPEM, UserID: "alice"}, wantErr: "needs an RSA key"},
		{name: "key on the wrong curve", mint: MintOptions{Algorithm: "ES384", PrivateKeyPEM: k.p256.privPEM, UserID: "alice"}, wantErr: "P-384"},
		{name: "public key instead of private", mint: MintOptions{Algorithm: "RS256", PrivateKeyPEM: k.rsa.pubPEM, UserID: "alice"}, wantErr: "no PEM private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token, err := Mint(tc.mint)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Mint error = %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _, err := mustVerifier(t, tc.verify).Verify(token); err != nil || got != tc.mint.UserID {
				t.Fatalf("Verify = %q, %v; want %q", got, err, tc.mint.UserID)
			}
		})
	}
}

func TestMintClaims(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	token := mustMint(t, MintOptions{
		UserID: "u-1", UserClaim: "uid", Issuer: "wealthcoach", Audience: "app", TTL: 10 * time.Minute, Now: now,
		Extra: map[string]any{"role": "tester", "iat": nil},
	})
	var got jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"uid": "u-1", "iss": "wealthcoach", "aud": "app", "role": "tester",
		"exp": float64(now.Add(10 * time.Minute).Unix()),
	}
	if len(got) != len(want) {
		t.Fatalf("claims = %v, want %v", got, want)
	}
	for name, v := range want {
		if got[name] != v {
			t.Fatalf("claim %s = %v, want %v (claims %v)", name, got[name], v, got)
		}
	}
}

func TestMintDefaultTTL(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var got jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(mustMint(t, MintOptions{Now: now}), &got); err != nil {
		t.Fatal(err)
	}
	if got["iat"] != float64(now.Unix()) || got["exp"] != float64(now.Add(time.Hour).Unix()) || got["sub"] != "alice" {
		t.Fatalf("claims = %v; want sub alice, iat now, exp an hour later", got)
	}
}
