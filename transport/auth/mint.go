package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MintOptions describes a token for Mint. Zero values select the documented
// defaults.
type MintOptions struct {
	// Algorithm is the signing algorithm, one of those Options.Algorithms
	// supports. Default "HS256".
	Algorithm string
	// Secret is the HMAC key, required for HS* algorithms.
	Secret []byte
	// PrivateKeyPEM is the signing key for the asymmetric algorithms: a
	// PKCS #8 "PRIVATE KEY", a PKCS #1 "RSA PRIVATE KEY" or a SEC 1
	// "EC PRIVATE KEY". It must suit the algorithm as Options.PublicKeyPEM does.
	PrivateKeyPEM []byte
	// UserID is the value of the user claim. Required.
	UserID string
	// UserClaim names the claim that holds UserID. Default "sub".
	UserClaim string
	// Issuer and Audience, when non-empty, become the iss and aud claims.
	Issuer, Audience string
	// TTL is the token's lifetime: exp is Now plus TTL. Default 1h; negative
	// values are refused (set Now in the past to mint an expired token).
	TTL time.Duration
	// Now is the issue time, written as iat. Zero means time.Now().
	Now time.Time
	// Extra claims are set last and replace any claim of the same name; a nil
	// value removes that claim (a token without exp, for instance).
	Extra map[string]any
}

// Mint signs a token for o.UserID with the claims the Verifier expects:
// the user claim, iat, exp, and iss and aud when set.
func Mint(o MintOptions) (string, error) {
	name := o.Algorithm
	if name == "" {
		name = "HS256"
	}
	a, err := lookupAlgorithm(name)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	if o.UserID == "" {
		return "", errors.New("auth: mint: empty user id")
	}
	if o.TTL < 0 {
		return "", errors.New("auth: mint: negative TTL")
	}
	key, err := signingKey(name, a, o)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = time.Hour
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	userClaim := o.UserClaim
	if userClaim == "" {
		userClaim = "sub"
	}
	claims := jwt.MapClaims{
		"iat":     now.Unix(),
		"exp":     now.Add(ttl).Unix(),
		userClaim: o.UserID,
	}
	if o.Issuer != "" {
		claims["iss"] = o.Issuer
	}
	if o.Audience != "" {
		claims["aud"] = o.Audience
	}
	for k, val := range o.Extra {
		if val == nil {
			delete(claims, k)
			continue
		}
		claims[k] = val
	}
	token, err := jwt.NewWithClaims(jwt.GetSigningMethod(name), claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return token, nil
}

// signingKey returns the key to sign with for the algorithm a named name.
func signingKey(name string, a algorithm, o MintOptions) (any, error) {
	if a.family == familyHMAC {
		if len(o.Secret) == 0 {
			return nil, fmt.Errorf("algorithm %s needs a secret", name)
		}
		return o.Secret, nil
	}
	if len(o.PrivateKeyPEM) == 0 {
		return nil, fmt.Errorf("algorithm %s needs a private key", name)
	}
	signer, public, err := parsePrivateKeyPEM(o.PrivateKeyPEM)
	if err != nil {
		return nil, err
	}
	if err := checkKey(name, a, public); err != nil {
		return nil, err
	}
	return signer, nil
}
