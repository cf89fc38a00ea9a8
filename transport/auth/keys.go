package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// keyFamily is the kind of key an algorithm verifies with. The verifier picks
// its key by family, so a token can never make one family's key material be
// used by another family's algorithm (HS256 signed with an RSA public key).
type keyFamily uint8

const (
	familyHMAC keyFamily = iota + 1
	familyRSA
	familyECDSA
	familyEd25519
)

func (f keyFamily) String() string {
	switch f {
	case familyHMAC:
		return "HMAC secret"
	case familyRSA:
		return "RSA key"
	case familyECDSA:
		return "ECDSA key"
	case familyEd25519:
		return "Ed25519 key"
	}
	return "unknown key"
}

// algorithm describes one supported "alg" value.
type algorithm struct {
	family keyFamily
	curve  elliptic.Curve // ECDSA only: the one curve the algorithm is defined on
}

// algorithms lists every "alg" the package supports. "none" is deliberately
// absent: it can never be allowed.
var algorithms = map[string]algorithm{
	"HS256": {family: familyHMAC},
	"HS384": {family: familyHMAC},
	"HS512": {family: familyHMAC},
	"RS256": {family: familyRSA},
	"RS384": {family: familyRSA},
	"RS512": {family: familyRSA},
	"PS256": {family: familyRSA},
	"ES256": {family: familyECDSA, curve: elliptic.P256()},
	"ES384": {family: familyECDSA, curve: elliptic.P384()},
	"EdDSA": {family: familyEd25519},
}

// minRSABits is the smallest RSA modulus accepted for verification or signing.
const minRSABits = 2048

// lookupAlgorithm returns the description of a supported algorithm.
func lookupAlgorithm(name string) (algorithm, error) {
	if name == "none" {
		return algorithm{}, errors.New(`algorithm "none" is never allowed`)
	}
	a, ok := algorithms[name]
	if !ok {
		return algorithm{}, fmt.Errorf("unsupported algorithm %q", name)
	}
	return a, nil
}

// checkKey reports whether key is usable with the algorithm a named name.
// key is a public or a private key; only its public half matters.
func checkKey(name string, a algorithm, key any) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if a.family == familyRSA {
			return checkRSASize(k)
		}
	case *ecdsa.PublicKey:
		if a.family == familyECDSA {
			if k.Curve == nil {
				return errors.New("ECDSA key without a curve")
			}
			if k.Curve != a.curve {
				return fmt.Errorf("algorithm %s needs an ECDSA key on %s, got %s", name, a.curve.Params().Name, k.Curve.Params().Name)
			}
			return nil
		}
	case ed25519.PublicKey:
		if a.family == familyEd25519 {
			if len(k) != ed25519.PublicKeySize {
				return errors.New("invalid Ed25519 public key size")
			}
			return nil
		}
	default:
		return fmt.Errorf("unsupported key type %T", key)
	}
	return fmt.Errorf("algorithm %s needs an %s, got %s", name, a.family, familyOf(key))
}

func checkRSASize(k *rsa.PublicKey) error {
	if k.N == nil || k.N.BitLen() < minRSABits {
		return fmt.Errorf("RSA key must have at least %d bits", minRSABits)
	}
	return nil
}

// familyOf names the family of a public key for error messages.
func familyOf(key any) keyFamily {
	switch key.(type) {
	case *rsa.PublicKey:
		return familyRSA
	case *ecdsa.PublicKey:
		return familyECDSA
	case ed25519.PublicKey:
		return familyEd25519
	}
	return 0
}

// parsePublicKeyPEM reads the first public key or certificate in data:
// a PKIX "PUBLIC KEY", a PKCS #1 "RSA PUBLIC KEY" or a "CERTIFICATE".
func parsePublicKeyPEM(data []byte) (any, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM public key or certificate found")
		}
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse public key: %w", err)
			}
			return k, nil
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse RSA public key: %w", err)
			}
			return k, nil
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate: %w", err)
			}
			return c.PublicKey, nil
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("got a private key where a public key is expected")
		}
	}
}

// parsePrivateKeyPEM reads the first private key in data: PKCS #8
// "PRIVATE KEY", PKCS #1 "RSA PRIVATE KEY" or SEC 1 "EC PRIVATE KEY".
// It returns the signing key and its public half.
func parsePrivateKeyPEM(data []byte) (signer, public any, err error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, nil, errors.New("no PEM private key found")
		}
		var key any
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("parse private key: %w", err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			return k, &k.PublicKey, nil
		case *ecdsa.PrivateKey:
			return k, &k.PublicKey, nil
		case ed25519.PrivateKey:
			return k, k.Public(), nil
		}
		return nil, nil, fmt.Errorf("unsupported private key type %T", key)
	}
}
