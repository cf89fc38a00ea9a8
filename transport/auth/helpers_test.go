package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"
)

var testSecret = []byte("test-secret-0123456789abcdef-0123")

// keyPair holds one generated key in the PEM forms the package reads.
type keyPair struct {
	private crypto.Signer
	privPEM []byte // PKCS #8
	pubPEM  []byte // PKIX
}

func newKeyPair(tb testing.TB, private crypto.Signer) keyPair {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(private)
	if err != nil {
		tb.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(private.Public())
	if err != nil {
		tb.Fatal(err)
	}
	return keyPair{
		private: private,
		privPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pubPEM:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
	}
}

type testKeySet struct {
	rsa, rsa1024, p256, p384, ed keyPair
}

var (
	keysOnce sync.Once
	keysVal  testKeySet
	keysErr  error
)

// testKeys generates the test keys once per test binary: RSA generation is slow.
func testKeys(tb testing.TB) testKeySet {
	tb.Helper()
	keysOnce.Do(func() {
		var k2048, k1024 *rsa.PrivateKey
		if k2048, keysErr = rsa.GenerateKey(rand.Reader, 2048); keysErr != nil {
			return
		}
		if k1024, keysErr = rsa.GenerateKey(rand.Reader, 1024); keysErr != nil {
			return
		}
		var p256, p384 *ecdsa.PrivateKey
		if p256, keysErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); keysErr != nil {
			return
		}
		if p384, keysErr = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); keysErr != nil {
			return
		}
		var ed ed25519.PrivateKey
		if _, ed, keysErr = ed25519.GenerateKey(rand.Reader); keysErr != nil {
			return
		}
		keysVal = testKeySet{
			rsa:     newKeyPair(tb, k2048),
			rsa1024: newKeyPair(tb, k1024),
			p256:    newKeyPair(tb, p256),
			p384:    newKeyPair(tb, p384),
			ed:      newKeyPair(tb, ed),
		}
	})
	if keysErr != nil {
		tb.Fatal(keysErr)
	}
	return keysVal
}

// certificatePEM wraps kp's public key in a self-signed certificate.
func certificatePEM(tb testing.TB, kp keyPair) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "wealthcoach test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, kp.private.Public(), kp.private)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func mustMint(tb testing.TB, o MintOptions) string {
	tb.Helper()
	if o.Secret == nil && o.PrivateKeyPEM == nil {
		o.Secret = testSecret
	}
	if o.UserID == "" {
		o.UserID = "alice"
	}
	token, err := Mint(o)
	if err != nil {
		tb.Fatal(err)
	}
	return token
}

func mustVerifier(tb testing.TB, o Options) *Verifier {
	tb.Helper()
	v, err := NewVerifier(o)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// rawHS256 signs the header and payload JSON exactly as written, for tokens
// that Mint cannot produce (duplicate names, odd types, extra headers).
func rawHS256(header, payload string, secret []byte) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// hs256Header is the usual header for rawHS256.
const hs256Header = `{"alg":"HS256","typ":"JWT"}`
