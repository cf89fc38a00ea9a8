package auth

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes is the longest token Verify accepts. Longer tokens are refused
// before any decoding, which bounds the work an unauthenticated peer can ask
// for.
const MaxTokenBytes = 8 << 10

// Options configures a Verifier. Zero values select the documented defaults.
type Options struct {
	// Algorithms is the allow-list of "alg" header values. Default ["HS256"].
	// Supported: HS256, HS384, HS512, RS256, RS384, RS512, PS256, ES256,
	// ES384, EdDSA. "none" is always refused.
	Algorithms []string
	// Secret is the HMAC key. Required when any HS* algorithm is allowed,
	// ignored otherwise.
	Secret []byte
	// PublicKeyPEM holds the verification key for the asymmetric algorithms:
	// a PKIX "PUBLIC KEY", a PKCS #1 "RSA PUBLIC KEY" or a "CERTIFICATE".
	// Required when any asymmetric algorithm is allowed, refused when none is,
	// and it must suit every allowed one: an RSA key of at least 2048 bits for
	// RS* and PS256, a P-256 key for ES256, a P-384 key for ES384, an Ed25519
	// key for EdDSA.
	PublicKeyPEM []byte
	// Issuer, when non-empty, must equal the token's iss claim.
	Issuer string
	// Audience, when non-empty, must be the token's aud claim or one of its
	// entries.
	Audience string
	// UserClaim names the claim that holds the user id. Default "sub". The
	// claim must be a non-empty string or a JSON number, which is returned in
	// plain decimal notation (no exponent).
	UserClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 0.
	Leeway time.Duration
}

// Verifier checks access tokens. Build it once with NewVerifier; it is
// immutable and safe for concurrent use.
type Verifier struct {
	parser    *jwt.Parser
	keyFunc   jwt.Keyfunc
	allowed   []string
	keys      [familyEd25519 + 1]any // by keyFamily; boxed once so lookups do not allocate
	userClaim string
	issuer    string
	audience  string
	audiences jwt.ClaimStrings // {audience}, shared by every decoded aud equal to it
}

// errCriticalHeader and errNoKey are returned by the key function; the parser
// wraps them in jwt.ErrTokenUnverifiable.
var (
	errCriticalHeader = errors.New("critical header extensions are not supported")
	errNoKey          = errors.New("no key configured for the token's algorithm")
)

// NewVerifier checks o and builds a Verifier. It refuses an unknown
// algorithm or "none", an HMAC algorithm without a secret, and an asymmetric
// algorithm without a public key or with a key that does not suit it.
func NewVerifier(o Options) (*Verifier, error) {
	if o.Leeway < 0 {
		return nil, errors.New("auth: leeway must not be negative")
	}
	v := &Verifier{userClaim: o.UserClaim, issuer: o.Issuer, audience: o.Audience}
	if v.userClaim == "" {
		v.userClaim = "sub"
	}
	names := o.Algorithms
	if len(names) == 0 {
		names = []string{"HS256"}
	}
	var needSecret bool
	var asymmetric []string
	for _, name := range names {
		a, err := lookupAlgorithm(name)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		if slices.Contains(v.allowed, name) {
			continue
		}
		v.allowed = append(v.allowed, name)
		if a.family == familyHMAC {
			needSecret = true
		} else {
			asymmetric = append(asymmetric, name)
		}
	}
	if needSecret {
		if len(o.Secret) == 0 {
			return nil, errors.New("auth: an HMAC algorithm is allowed but no secret is set")
		}
		v.keys[familyHMAC] = bytes.Clone(o.Secret)
	}
	if err := v.setPublicKey(o.PublicKeyPEM, asymmetric); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.allowed),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(o.Leeway),
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	if v.audience != "" {
		v.audiences = jwt.ClaimStrings{v.audience}
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	v.parser = jwt.NewParser(opts...)
	v.keyFunc = v.key
	return v, nil
}

// setPublicKey parses the PEM key and checks it against every allowed
// asymmetric algorithm.
func (v *Verifier) setPublicKey(pemData []byte, algs []string) error {
	if len(algs) == 0 {
		if len(pemData) > 0 {
			return errors.New("a public key is set but no asymmetric algorithm is allowed")
		}
		return nil
	}
	if len(pemData) == 0 {
		return fmt.Errorf("algorithm %s is allowed but no public key is set", algs[0])
	}
	pub, err := parsePublicKeyPEM(pemData)
	if err != nil {
		return err
	}
	for _, name := range algs {
		if err := checkKey(name, algorithms[name], pub); err != nil {
			return err
		}
	}
	v.keys[familyOf(pub)] = pub
	return nil
}

// key is the parser's key function. The parser has already checked the alg
// against the allow-list; the key is then chosen by the signing method's
// family from the configured material, never from anything in the header, so
// an HS256 token is checked with the HMAC secret or not at all.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCriticalHeader
	}
	var f keyFamily
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		f = familyHMAC
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		f = familyRSA
	case *jwt.SigningMethodECDSA:
		f = familyECDSA
	case *jwt.SigningMethodEd25519:
		f = familyEd25519
	}
	if k := v.keys[f]; k != nil {
		return k, nil
	}
	return nil, errNoKey
}

// Verify checks token and returns the user id it carries and its exp
// (every token accepted has one), for a session that lives no longer than
// its token. The token must be in compact form, base64url characters and
// two dots only: white space, padding and the standard alphabet's '+' and
// '/' are malformed. Every refusal is an *Error.
func (v *Verifier) Verify(token string) (userID string, expires time.Time, err error) {
	if len(token) > MaxTokenBytes {
		return "", time.Time{}, errTooLong
	}
	if !compactForm(token) {
		return "", time.Time{}, errMalformed
	}
	c := &claims{v: v}
	t, err := v.parser.ParseWithClaims(token, c, v.keyFunc)
	if err != nil {
		return "", time.Time{}, v.refusal(t, c, err)
	}
	if c.user == "" {
		return "", time.Time{}, errNoUser
	}
	return c.user, c.exp.Time, nil
}

// compactForm reports whether token is three base64url segments without
// padding (RFC 7515 compact serialization) joined by exactly two dots.
// Go's base64 decoder skips CR and LF, so without this check a token with a
// line break appended or pasted into its signature would still verify.
func compactForm(token string) bool {
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return dots == 2
}

// refusal maps a parser error to one of the package's fixed errors.
func (v *Verifier) refusal(t *jwt.Token, c *claims, err error) error {
	switch {
	case errors.Is(err, errBadClaim):
		return errClaims
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errMalformed
	case errors.Is(err, errCriticalHeader):
		return errCritical
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return errAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t != nil && t.Method != nil && !slices.Contains(v.allowed, t.Method.Alg()) {
			return errAlgorithm
		}
		return errSignature
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return v.claimsRefusal(c, err)
	}
	return errUnverifiable
}

// claimsRefusal names the failed claim check for a token whose signature is
// valid. Expiry is tested last, so that Expired holds only for a token with
// nothing else wrong.
func (v *Verifier) claimsRefusal(c *claims, err error) error {
	switch {
	case !c.hasExp:
		return errNoExpiry
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		if v.issuer != "" && c.iss == "" {
			return errIssuer
		}
		return errAudience
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errIssuedFuture
	case errors.Is(err, jwt.ErrTokenExpired):
		if c.user == "" {
			return errNoUser
		}
		return errExpired
	}
	return errClaims
}
