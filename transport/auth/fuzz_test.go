package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings to Verify. It must never panic, refuse
// only with an *Error whose message holds no part of the token, and accept
// only a token of base64url characters and two dots whose HS256 signature
// checks out by an independent computation and whose user id matches an
// independent decoding.
func FuzzVerify(f *testing.F) {
	now := time.Now()
	exp := now.Add(24 * time.Hour).Unix()
	valid := mustMint(f, MintOptions{TTL: 24 * time.Hour})
	for _, seed := range []string{
		valid,
		valid[:len(valid)-1],
		strings.Replace(valid, ".", "..", 1),
		mustMint(f, MintOptions{TTL: 24 * time.Hour, Extra: map[string]any{"sub": 1.5e3, "aud": []string{"x", "app"}}}),
		mustMint(f, MintOptions{Algorithm: "HS512", TTL: 24 * time.Hour}),
		mustMint(f, MintOptions{Now: now.Add(-48 * time.Hour)}),
		rawHS256(`{"alg":"none"}`, `{"sub":"alice","exp":`+jsonNumber(exp)+`}`, testSecret),
		rawHS256(hs256Header, `{"sub":"al\u0069ce","SUB":"x","exp":`+jsonNumber(exp)+`.5,"n":{"a":[1,"}"]}}`, testSecret),
		rawHS256(`{"alg":"HS256","crit":["b64"]}`, `{"sub":"alice","exp":`+jsonNumber(exp)+`}`, testSecret),
		"", ".", "..", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", strings.Repeat("A", MaxTokenBytes+1),
		valid + "\n",
		valid + "\r\n",
		valid[:len(valid)-10] + "\r\n" + valid[len(valid)-10:],
		valid + " ",
		" " + valid,
		valid + "=",
		valid[:len(valid)-1] + "+",
		valid[:len(valid)-1] + "/",
		valid + ".",
		strings.Replace(valid, ".", "\n.", 1),
	} {
		f.Add(seed)
	}
	v := mustVerifier(f, Options{Secret: testSecret})
	f.Fuzz(func(t *testing.T, token string) {
		user, _, err := v.Verify(token)
		if err != nil {
			var authErr *Error
			if !errors.As(err, &authErr) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if len(token) >= 4 && strings.Contains(err.Error(), token) {
				t.Fatalf("error %q contains the token", err)
			}
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token with %d segments", len(parts))
		}
		if i := strings.IndexFunc(token, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
		}); i >= 0 {
			t.Fatalf("accepted a token with %q at byte %d", token[i], i)
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			t.Fatalf("accepted a token whose signature is not base64url: %v", err)
		}
		mac := hmac.New(sha256.New, testSecret)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		if !hmac.Equal(sig, mac.Sum(nil)) {
			t.Fatal("accepted a token without a valid HS256 signature")
		}
		var header struct{ Alg string }
		if hb, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(hb, &header) != nil || header.Alg != "HS256" {
			t.Fatalf("accepted a token whose header does not name HS256")
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		ref, ok := decodeReference(payload, "sub")
		if !ok || ref.user != user || ref.exp == nil {
			t.Fatalf("accepted user %q; reference decoding gives %+v (ok %v)", user, show(ref), ok)
		}
	})
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
