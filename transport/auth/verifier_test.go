package auth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerify(t *testing.T) {
	k := testKeys(t)
	now := time.Now()
	hs := Options{Secret: testSecret}
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	raw := func(payload string) string { return rawHS256(hs256Header, payload, testSecret) }

	noneToken, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"sub": "alice", "exp": now.Add(time.Hour).Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// The classic confusion attack: HS256 keyed with the server's public key PEM.
	confused, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "admin", "exp": now.Add(time.Hour).Unix(),
	}).SignedString(k.rsa.pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": "alice", "exp": now.Add(time.Hour).Unix(),
	}).SignedString(k.rsa1024.private)
	if err != nil {
		t.Fatal(err)
	}
	valid := mustMint(t, MintOptions{})
	parts := strings.Split(valid, ".")

	tests := []struct {
		name    string
		opts    Options
		token   string
		want    string // user id on success
		wantErr error  // one of the package's errors
	}{
		{name: "valid HS256", opts: hs, token: valid, want: "alice"},
		{name: "default algorithms accept HS256", opts: Options{Secret: testSecret, Algorithms: []string{}}, token: valid, want: "alice"},
		{name: "HS384 allowed", opts: Options{Secret: testSecret, Algorithms: []string{"HS384"}},
			token: mustMint(t, MintOptions{Algorithm: "HS384"}), want: "alice"},
		{name: "HS512 allowed", opts: Options{Secret: testSecret, Algorithms: []string{"HS256", "HS512"}},
			token: mustMint(t, MintOptions{Algorithm: "HS512"}), want: "alice"},
		{name: "alg none", opts: hs, token: noneToken, wantErr: errAlgorithm},
		{name: "alg none with a signature", opts: hs, token: noneToken + parts[2], wantErr: errAlgorithm},
		{name: "alg missing", opts: hs, token: rawHS256(`{"typ":"JWT"}`, `{"sub":"alice","exp":`+exp+`}`, testSecret), wantErr: errAlgorithm},
		{name: "alg unknown", opts: hs, token: rawHS256(`{"alg":"HS1"}`, `{"sub":"alice","exp":`+exp+`}`, testSecret), wantErr: errAlgorithm},
		{name: "alg lower case", opts: hs, token: rawHS256(`{"alg":"hs256"}`, `{"sub":"alice","exp":`+exp+`}`, testSecret), wantErr: errAlgorithm},
		{name: "HS/RS confusion", opts: Options{Algorithms: []string{"RS256"}, PublicKeyPEM: k.rsa.pubPEM}, token: confused, wantErr: errAlgorithm},
		{name: "HS/RS confusion with both families allowed",
			opts:  Options{Algorithms: []string{"HS256", "RS256"}, Secret: testSecret, PublicKeyPEM: k.rsa.pubPEM},
			token: confused, wantErr: errSignature},
		{name: "algorithm not in allow-list", opts: hs, token: mustMint(t, MintOptions{Algorithm: "HS512"}), wantErr: errAlgorithm},
		{name: "ES256 token to an RS256 verifier", opts: Options{Algorithms: []string{"RS256"}, PublicKeyPEM: k.rsa.pubPEM},
			token: mustMint(t, MintOptions{Algorithm: "ES256", PrivateKeyPEM: k.p256.privPEM}), wantErr: errAlgorithm},
		{name: "bad signature", opts: hs, token: mustMint(t, MintOptions{Secret: []byte("another-secret-0123456789abcdef")}), wantErr: errSignature},
		{name: "tampered payload", opts: hs, token: parts[0] + "." + strings.Split(raw(`{"sub":"admin","exp":`+exp+`}`), ".")[1] + "." + parts[2], wantErr: errSignature},
		{name: "signature stripped", opts: hs, token: parts[0] + "." + parts[1] + ".", wantErr: errSignature},
		{name: "malformed: empty", opts: hs, token: "", wantErr: errMalformed},
		{name: "malformed: one segment", opts: hs, token: "abc", wantErr: errMalformed},
		{name: "malformed: four segments", opts: hs, token: valid + ".x", wantErr: errMalformed},
		{name: "malformed: bad base64", opts: hs, token: "a.b.c", wantErr: errMalformed},
		{name: "malformed: payload not JSON", opts: hs, token: parts[0] + ".bm90IGpzb24." + parts[2], wantErr: errMalformed},
		{name: "malformed: payload is an array", opts: hs, token: raw(`["sub","alice"]`), wantErr: errMalformed},
		{name: "too long", opts: hs, token: mustMint(t, MintOptions{Extra: map[string]any{"pad": strings.Repeat("x", MaxTokenBytes)}}), wantErr: errTooLong},
		{name: "expired", opts: hs, token: mustMint(t, MintOptions{Now: now.Add(-2 * time.Hour)}), wantErr: errExpired},
		{name: "expired within leeway", opts: Options{Secret: testSecret, Leeway: time.Minute},
			token: mustMint(t, MintOptions{Now: now.Add(-time.Hour - 10*time.Second)}), want: "alice"},
		{name: "expired beyond leeway", opts: Options{Secret: testSecret, Leeway: time.Minute},
			token: mustMint(t, MintOptions{Now: now.Add(-time.Hour - 2*time.Minute)}), wantErr: errExpired},
		{name: "expired and wrong issuer", opts: Options{Secret: testSecret, Issuer: "wealthcoach"},
			token: mustMint(t, MintOptions{Now: now.Add(-2 * time.Hour), Issuer: "evil"}), wantErr: errIssuer},
		{name: "expired without user claim", opts: hs,
			token: mustMint(t, MintOptions{Now: now.Add(-2 * time.Hour), Extra: map[string]any{"sub": nil}}), wantErr: errNoUser},
		{name: "not yet valid", opts: hs, token: mustMint(t, MintOptions{Extra: map[string]any{"nbf": now.Add(time.Hour).Unix()}}), wantErr: errNotYetValid},
		{name: "nbf within leeway", opts: Options{Secret: testSecret, Leeway: time.Minute},
			token: mustMint(t, MintOptions{Extra: map[string]any{"nbf": now.Add(10 * time.Second).Unix()}}), want: "alice"},
		{name: "nbf in the past", opts: hs, token: mustMint(t, MintOptions{Extra: map[string]any{"nbf": now.Add(-time.Minute).Unix()}}), want: "alice"},
		{name: "iat in the future beyond leeway", opts: Options{Secret: testSecret, Leeway: time.Minute},
			token: mustMint(t, MintOptions{Now: now.Add(10 * time.Minute)}), wantErr: errIssuedFuture},
		{name: "iat in the future within leeway", opts: Options{Secret: testSecret, Leeway: time.Minute},
			token: mustMint(t, MintOptions{Now: now.Add(10 * time.Second)}), want: "alice"},
		{name: "missing exp", opts: hs, token: mustMint(t, MintOptions{Extra: map[string]any{"exp": nil}}), wantErr: errNoExpiry},
		{name: "exp null", opts: hs, token: raw(`{"sub":"alice","exp":null}`), wantErr: errNoExpiry},
		{name: "exp as a string", opts: hs, token: raw(`{"sub":"alice","exp":"` + exp + `"}`), wantErr: errClaims},
		{name: "exp out of range", opts: hs, token: raw(`{"sub":"alice","exp":1e300}`), wantErr: errClaims},
		{name: "exp with a fraction", opts: hs, token: raw(`{"sub":"alice","exp":` + exp + `.5}`), want: "alice"},
		{name: "exp in exponent form", opts: hs, token: raw(`{"sub":"alice","exp":` + exp[:1] + "." + exp[1:] + `e` + strconv.Itoa(len(exp)-1) + `}`), want: "alice"},
		{name: "exp spelled in upper case is not exp", opts: hs, token: raw(`{"sub":"alice","EXP":` + exp + `}`), wantErr: errNoExpiry},
		{name: "issuer matches", opts: Options{Secret: testSecret, Issuer: "wealthcoach"},
			token: mustMint(t, MintOptions{Issuer: "wealthcoach"}), want: "alice"},
		{name: "wrong issuer", opts: Options{Secret: testSecret, Issuer: "wealthcoach"},
			token: mustMint(t, MintOptions{Issuer: "evil"}), wantErr: errIssuer},
		{name: "missing issuer", opts: Options{Secret: testSecret, Issuer: "wealthcoach"}, token: valid, wantErr: errIssuer},
		{name: "issuer not a string", opts: Options{Secret: testSecret, Issuer: "wealthcoach"},
			token: raw(`{"sub":"alice","exp":` + exp + `,"iss":7}`), wantErr: errClaims},
		{name: "issuer ignored when not configured", opts: hs, token: mustMint(t, MintOptions{Issuer: "anyone"}), want: "alice"},
		{name: "audience matches", opts: Options{Secret: testSecret, Audience: "app"},
			token: mustMint(t, MintOptions{Audience: "app"}), want: "alice"},
		{name: "wrong audience", opts: Options{Secret: testSecret, Audience: "app"},
			token: mustMint(t, MintOptions{Audience: "web"}), wantErr: errAudience},
		{name: "missing audience", opts: Options{Secret: testSecret, Audience: "app"}, token: valid, wantErr: errAudience},
		{name: "audience array containing the configured one", opts: Options{Secret: testSecret, Audience: "app"},
			token: mustMint(t, MintOptions{Extra: map[string]any{"aud": []string{"web", "app"}}}), want: "alice"},
		{name: "audience array without the configured one", opts: Options{Secret: testSecret, Audience: "app"},
			token: mustMint(t, MintOptions{Extra: map[string]any{"aud": []string{"web", "cli"}}}), wantErr: errAudience},
		{name: "audience array with a non-string", opts: Options{Secret: testSecret, Audience: "app"},
			token: raw(`{"sub":"alice","exp":` + exp + `,"aud":["app",1]}`), wantErr: errClaims},
		{name: "issuer and audience", opts: Options{Secret: testSecret, Issuer: "wealthcoach", Audience: "app"},
			token: mustMint(t, MintOptions{Issuer: "wealthcoach", Audience: "app"}), want: "alice"},
		{name: "missing user claim", opts: hs, token: mustMint(t, MintOptions{Extra: map[string]any{"sub": nil}}), wantErr: errNoUser},
		{name: "empty user claim", opts: hs, token: mustMint(t, MintOptions{Extra: map[string]any{"sub": ""}}), wantErr: errNoUser},
		{name: "boolean user claim", opts: hs, token: mustMint(t, MintOptions{Extra: map[string]any{"sub": true}}), wantErr: errNoUser},
		{name: "object user claim", opts: hs, token: mustMint(t, MintOptions{Extra: map[string]any{"sub": map[string]string{"id": "alice"}}}), wantErr: errNoUser},
		{name: "null user claim", opts: hs, token: raw(`{"sub":null,"exp":` + exp + `}`), wantErr: errNoUser},
		{name: "user claim in another case is not the user claim", opts: hs, token: raw(`{"SUB":"admin","exp":` + exp + `}`), wantErr: errNoUser},
		{name: "user claim beside a look-alike", opts: hs, token: raw(`{"sub":"alice","Sub":"admin","exp":` + exp + `}`), want: "alice"},
		{name: "duplicate user claim: last wins", opts: hs, token: raw(`{"sub":"admin","sub":"alice","exp":` + exp + `}`), want: "alice"},
		{name: "escaped claim name", opts: hs, token: raw(`{"s\u0075b":"alice","exp":` + exp + `}`), want: "alice"},
		{name: "escaped user id", opts: hs, token: raw(`{"sub":"al\u0069ce\n","exp":` + exp + `}`), want: "alice\n"},
		{name: "unicode user id", opts: hs, token: mustMint(t, MintOptions{UserID: "zoë-東京"}), want: "zoë-東京"},
		{name: "nested claims are skipped", opts: hs, token: raw(` { "x" : {"sub":"admin","a":[1,{"}":"]"}]}, "sub" : "alice" , "exp" : ` + exp + ` } `), want: "alice"},
		{name: "custom user claim", opts: Options{Secret: testSecret, UserClaim: "uid"},
			token: mustMint(t, MintOptions{UserClaim: "uid", UserID: "u-42"}), want: "u-42"},
		{name: "custom user claim ignores sub", opts: Options{Secret: testSecret, UserClaim: "uid"}, token: valid, wantErr: errNoUser},
		{name: "numeric user claim", opts: hs, token: mustMint(t, MintOptions{Extra: map[string]any{"sub": 12345}}), want: "12345"},
		{name: "numeric user claim beyond float64 precision", opts: hs,
			token: raw(`{"sub":12345678901234567891,"exp":` + exp + `}`), want: "12345678901234567891"},
		{name: "numeric user claim with exponent", opts: hs, token: raw(`{"sub":1.5E3,"exp":` + exp + `}`), want: "1500"},
		{name: "numeric custom user claim", opts: Options{Secret: testSecret, UserClaim: "uid"},
			token: mustMint(t, MintOptions{UserClaim: "uid", Extra: map[string]any{"uid": 7}}), want: "7"},
		{name: "critical header", opts: hs, token: rawHS256(`{"alg":"HS256","crit":["exp"]}`, `{"sub":"alice","exp":`+exp+`}`, testSecret), wantErr: errCritical},
		{name: "kid header does not choose the key", opts: hs,
			token: rawHS256(`{"alg":"HS256","kid":"other"}`, `{"sub":"alice","exp":`+exp+`}`, testSecret), want: "alice"},
		{name: "RS256", opts: Options{Algorithms: []string{"RS256"}, PublicKeyPEM: k.rsa.pubPEM},
			token: mustMint(t, MintOptions{Algorithm: "RS256", PrivateKeyPEM: k.rsa.privPEM}), want: "alice"},
		{name: "RS512", opts: Options{Algorithms: []string{"RS256", "RS512"}, PublicKeyPEM: k.rsa.pubPEM},
			token: mustMint(t, MintOptions{Algorithm: "RS512", PrivateKeyPEM: k.rsa.privPEM}), want: "alice"},
		{name: "PS256", opts: Options{Algorithms: []string{"PS256"}, PublicKeyPEM: k.rsa.pubPEM},
			token: mustMint(t, MintOptions{Algorithm: "PS256", PrivateKeyPEM: k.rsa.privPEM}), want: "alice"},
		{name: "RS256 from a certificate", opts: Options{Algorithms: []string{"RS256"}, PublicKeyPEM: certificatePEM(t, k.rsa)},
			token: mustMint(t, MintOptions{Algorithm: "RS256", PrivateKeyPEM: k.rsa.privPEM}), want: "alice"},
		{name: "RS256 signed by another key", opts: Options{Algorithms: []string{"RS256"}, PublicKeyPEM: k.rsa.pubPEM},
			token: otherRSA, wantErr: errSignature},
		{name: "ES256", opts: Options{Algorithms: []string{"ES256"}, PublicKeyPEM: k.p256.pubPEM},
			token: mustMint(t, MintOptions{Algorithm: "ES256", PrivateKeyPEM: k.p256.privPEM}), want: "alice"},
		{name: "ES384", opts: Options{Algorithms: []string{"ES384"}, PublicKeyPEM: k.p384.pubPEM},
			token: mustMint(t, MintOptions{Algorithm: "ES384", PrivateKeyPEM: k.p384.privPEM}), want: "alice"},
		{name: "EdDSA", opts: Options{Algorithms: []string{"EdDSA"}, PublicKeyPEM: k.ed.pubPEM},
			token: mustMint(t, MintOptions{Algorithm: "EdDSA", PrivateKeyPEM: k.ed.privPEM}), want: "alice"},
		{name: "EdDSA and HS256 both allowed", opts: Options{Algorithms: []string{"HS256", "EdDSA"}, Secret: testSecret, PublicKeyPEM: k.ed.pubPEM},
			token: mustMint(t, MintOptions{Algorithm: "EdDSA", PrivateKeyPEM: k.ed.privPEM}), want: "alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := mustVerifier(t, tc.opts)
			got, _, err := v.Verify(tc.token)
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Fatalf("Verify = %q, %v; want %q, nil", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || got != "" {
				t.Fatalf("Verify = %q, %v; want error %v", got, err, tc.wantErr)
			}
			var authErr *Error
			if !errors.As(err, &authErr) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if authErr.Expired() != (tc.wantErr == errExpired) {
				t.Fatalf("Expired() = %v for %v", authErr.Expired(), err)
			}
			if !errors.Is(err, authErr.Unwrap()) || authErr.Unwrap() == nil {
				t.Fatalf("Unwrap() = %v", authErr.Unwrap())
			}
			for _, seg := range strings.Split(tc.token, ".") {
				if len(seg) >= 4 && strings.Contains(err.Error(), seg) {
					t.Fatalf("error %q contains part of the token", err)
				}
			}
		})
	}
}

// TestVerifyRefusesNonCompactTokens checks that only base64url characters
// and exactly two dots get past Verify. Go's base64 decoder skips CR and LF,
// so a token with a line break appended or inside its signature would
// otherwise verify.
func TestVerifyRefusesNonCompactTokens(t *testing.T) {
	v := mustVerifier(t, Options{Secret: testSecret})
	valid := mustMint(t, MintOptions{})
	if got, _, err := v.Verify(valid); err != nil || got != "alice" {
		t.Fatalf("Verify(valid) = %q, %v; want alice", got, err)
	}
	parts := strings.Split(valid, ".")
	head, sig := parts[0]+"."+parts[1]+".", parts[2]
	tests := []struct{ name, token string }{
		{"newline appended", valid + "\n"},
		{"CR LF appended", valid + "\r\n"},
		{"CR LF inside the signature", head + sig[:10] + "\r\n" + sig[10:]},
		{"LF inside the payload", parts[0] + "." + parts[1][:5] + "\n" + parts[1][5:] + "." + sig},
		{"space appended", valid + " "},
		{"space inside the signature", head + sig[:10] + " " + sig[10:]},
		{"leading space", " " + valid},
		{"tab", valid + "\t"},
		{"NUL", valid + "\x00"},
		{"padding", valid + "="},
		{"padding inside", head + sig[:len(sig)-1] + "=="},
		{"plus", head + "+" + sig[1:]},
		{"slash", head + "/" + sig[1:]},
		{"non-ASCII", head + sig + "é"},
		{"three dots", valid + "."},
		{"three dots inside", parts[0] + "." + parts[1] + ".." + sig},
		{"one dot", parts[0] + parts[1] + "." + sig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := v.Verify(tc.token)
			if !errors.Is(err, errMalformed) || got != "" {
				t.Fatalf("Verify(%q) = %q, %v; want %v", tc.token, got, err, errMalformed)
			}
		})
	}
}

func TestErrorUnwrapsToJWTSentinels(t *testing.T) {
	v := mustVerifier(t, Options{Secret: testSecret})
	_, _, err := v.Verify(mustMint(t, MintOptions{Now: time.Now().Add(-2 * time.Hour)}))
	if !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("expired token: %v does not match jwt.ErrTokenExpired", err)
	}
	_, _, err = v.Verify(mustMint(t, MintOptions{Secret: []byte("wrong")}))
	if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("bad signature: %v does not match jwt.ErrTokenSignatureInvalid", err)
	}
	var nilErr *Error
	if nilErr.Expired() {
		t.Fatal("nil *Error reports Expired")
	}
}

func TestNewVerifierConfig(t *testing.T) {
	k := testKeys(t)
	tests := []struct {
		name    string
		opts    Options
		wantErr string // substring of the error; empty for success
	}{
		{name: "defaults with a secret", opts: Options{Secret: testSecret}},
		{name: "no secret", opts: Options{}, wantErr: "no secret"},
		{name: "HS384 without a secret", opts: Options{Algorithms: []string{"HS384"}}, wantErr: "no secret"},
		{name: "unknown algorithm", opts: Options{Secret: testSecret, Algorithms: []string{"HS1"}}, wantErr: "unsupported algorithm"},
		{name: "unsupported ES512", opts: Options{Algorithms: []string{"ES512"}, PublicKeyPEM: k.p256.pubPEM}, wantErr: "unsupported algorithm"},
		{name: "lower-case name", opts: Options{Secret: testSecret, Algorithms: []string{"hs256"}}, wantErr: "unsupported algorithm"},
		{name: "none", opts: Options{Secret: testSecret, Algorithms: []string{"HS256", "none"}}, wantErr: `"none" is never allowed`},
		{name: "duplicate algorithms", opts: Options{Secret: testSecret, Algorithms: []string{"HS256", "HS256"}}},
		{name: "RS256 without a key", opts: Options{Algorithms: []string{"RS256"}}, wantErr: "no public key"},
		{name: "RS256 with garbage", opts: Options{Algorithms: []string{"RS256"}, PublicKeyPEM: []byte("not a key")}, wantErr: "no PEM"},
		{name: "RS256 with a private key", opts: Options{Algorithms: []string{"RS256"}, PublicKeyPEM: k.rsa.privPEM}, wantErr: "private key"},
		{name: "RS256 with an EC key", opts: Options{Algorithms: []string{"RS256"}, PublicKeyPEM: k.p256.pubPEM}, wantErr: "needs an RSA key"},
		{name: "RS256 with a 1024-bit key", opts: Options{Algorithms: []string{"RS256"}, PublicKeyPEM: k.rsa1024.pubPEM}, wantErr: "at least 2048 bits"},
		{name: "ES256 with a P-384 key", opts: Options{Algorithms: []string{"ES256"}, PublicKeyPEM: k.p384.pubPEM}, wantErr: "P-256"},
		{name: "ES384 with a P-256 key", opts: Options{Algorithms: []string{"ES384"}, PublicKeyPEM: k.p256.pubPEM}, wantErr: "P-384"},
		{name: "EdDSA with an RSA key", opts: Options{Algorithms: []string{"EdDSA"}, PublicKeyPEM: k.rsa.pubPEM}, wantErr: "needs an Ed25519 key"},
		{name: "RS256 and ES256 with one key", opts: Options{Algorithms: []string{"RS256", "ES256"}, PublicKeyPEM: k.rsa.pubPEM}, wantErr: "needs an ECDSA key"},
		{name: "RS256 and PS256 with one RSA key", opts: Options{Algorithms: []string{"RS256", "PS256"}, PublicKeyPEM: k.rsa.pubPEM}},
		{name: "public key without an asymmetric algorithm", opts: Options{Secret: testSecret, PublicKeyPEM: k.rsa.pubPEM}, wantErr: "no asymmetric algorithm"},
		{name: "secret ignored without an HMAC algorithm", opts: Options{Algorithms: []string{"EdDSA"}, Secret: testSecret, PublicKeyPEM: k.ed.pubPEM}},
		{name: "certificate", opts: Options{Algorithms: []string{"ES256"}, PublicKeyPEM: certificatePEM(t, k.p256)}},
		{name: "negative leeway", opts: Options{Secret: testSecret, Leeway: -time.Second}, wantErr: "leeway"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(tc.opts)
			if tc.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier = %v, %v; want a verifier", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewVerifier error = %v; want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestVerifierKeepsItsSecret checks that the verifier copies the secret, so
// a caller reusing the slice cannot change what it accepts.
func TestVerifierKeepsItsSecret(t *testing.T) {
	secret := []byte(string(testSecret))
	v := mustVerifier(t, Options{Secret: secret})
	token := mustMint(t, MintOptions{})
	copy(secret, "XXXX")
	if _, _, err := v.Verify(token); err != nil {
		t.Fatalf("Verify after the caller changed its secret slice: %v", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := mustVerifier(t, Options{Secret: testSecret, Issuer: "wealthcoach", Audience: "app"})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		user := fmt.Sprintf("user-%d", g)
		good := mustMint(t, MintOptions{UserID: user, Issuer: "wealthcoach", Audience: "app"})
		bad := mustMint(t, MintOptions{UserID: user, Issuer: "evil", Audience: "app"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if got, _, err := v.Verify(good); err != nil || got != user {
					errs <- fmt.Errorf("Verify(good) = %q, %v", got, err)
					return
				}
				if _, _, err := v.Verify(bad); !errors.Is(err, errIssuer) {
					errs <- fmt.Errorf("Verify(bad) = %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
