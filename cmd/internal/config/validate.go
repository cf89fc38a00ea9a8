package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wealthwarriors/wealthcoach/transport"
)

// MinSecretBytes is the shortest auth.jwt_secret accepted outside dev mode.
const MinSecretBytes = 32

// keyKinds maps each JWT algorithm accepted in auth.algorithms to the kind of
// key that verifies it. "none" is deliberately absent.
var keyKinds = map[string]string{
	"HS256": "HMAC", "HS384": "HMAC", "HS512": "HMAC",
	"RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
	"PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
	"ES256": "ECDSA", "ES384": "ECDSA", "ES512": "ECDSA",
	"EdDSA": "Ed25519",
}

// Validate reports every invalid value at once (joined with errors.Join),
// each prefixed with its key. It never quotes a secret.
func (c *Config) Validate() error {
	var p problems
	c.validateServer(&p)
	c.validateAuth(&p)
	c.validateLimits(&p)
	c.validateHistory(&p)
	c.validateLLM(&p)
	c.validateStorage(&p)
	c.checkBounds(&p)
	p.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	p.oneOf("log.format", c.Log.Format, "", "json", "text")
	return errors.Join(p...)
}

// ValidateStore checks only what the store commands (users, migrate) use:
// the store and the logs. They need no JWT secret or listener.
func (c *Config) ValidateStore() error {
	var p problems
	c.validateStorage(&p)
	c.checkBounds(&p, "store.", "cache.")
	p.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	p.oneOf("log.format", c.Log.Format, "", "json", "text")
	return errors.Join(p...)
}

func (c *Config) validateServer(p *problems) {
	p.listen("server.listen", c.Server.Listen)
	for _, o := range c.Server.AllowedOrigins {
		if !isOrigin(o) {
			p.addf("server.allowed_origins", "%q is neither \"*\" nor an origin such as \"https://app.example.com\"", o)
		}
	}
	if _, err := transport.ParseTrustedProxies(c.Server.TrustedProxies); err != nil {
		p.addf("server.trusted_proxies", "%v", err)
	}
	switch {
	case c.Server.TLSCertFile != "" && c.Server.TLSKeyFile == "":
		p.addf("server.tls_key_file", "is required when server.tls_cert_file is set (both, or neither for plain ws)")
	case c.Server.TLSKeyFile != "" && c.Server.TLSCertFile == "":
		p.addf("server.tls_cert_file", "is required when server.tls_key_file is set (both, or neither for plain ws)")
	}
	p.listen("admin.listen", c.Admin.Listen)
	if !c.Dev && c.Admin.Token == "" && !isLoopback(c.Admin.Listen) {
		p.addf("admin.listen", "%q is reachable beyond this machine: set admin.token, or bind 127.0.0.1", c.Admin.Listen)
	}
}

// isLoopback reports whether a listen address only accepts connections
// from this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validateAuth(p *problems) {
	a := c.Auth
	if len(a.Algorithms) == 0 {
		p.addf("auth.algorithms", "must list at least one algorithm")
	}
	kinds := map[string]bool{}
	for _, alg := range a.Algorithms {
		kind, ok := keyKinds[alg]
		if !ok {
			p.addf("auth.algorithms", "unknown algorithm %q (known: %s)", alg, strings.Join(knownAlgorithms(), ", "))
			continue
		}
		kinds[kind] = true
	}
	if len(kinds) > 1 {
		// One verification key per server keeps the token header from choosing it.
		p.addf("auth.algorithms", "mixes key kinds %s; all algorithms must use one kind of key", strings.Join(sortedKeys(kinds), " and "))
	}
	switch {
	case !kinds["HMAC"] || c.Dev:
	case a.JWTSecret == "":
		p.addf("auth.jwt_secret", "is required outside dev mode (at least %d bytes)", MinSecretBytes)
	case len(a.JWTSecret) < MinSecretBytes:
		p.addf("auth.jwt_secret", "must be at least %d bytes outside dev mode", MinSecretBytes)
	}
	if len(kinds) > 0 && !kinds["HMAC"] && a.PublicKeyFile == "" {
		p.addf("auth.public_key_file", "is required for %s", strings.Join(a.Algorithms, ", "))
	}
	switch claim := strings.TrimSpace(a.UserClaim); {
	case claim == "":
		p.addf("auth.user_claim", "must not be empty")
	case slices.Contains(registeredClaims, claim):
		// These hold times and token metadata, never a user id: exp would
		// make every token expiring in the same second one user.
		p.addf("auth.user_claim", "%q is a registered JWT claim (%s), not a user id",
			a.UserClaim, strings.Join(registeredClaims, ", "))
	}
}

// registeredClaims are the RFC 7519 claim names auth.user_claim may not
// take; "sub", the default, is the registered claim meant for it.
var registeredClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti"}

// validateLimits checks the rules that relate two keys; each key's own
// range is in bounds.
func (c *Config) validateLimits(p *problems) {
	l := c.Limits
	if l.MaxAuthFrameBytes > l.MaxFrameBytes {
		p.addf("limits.max_auth_frame_bytes", "%d exceeds limits.max_frame_bytes (%d)", l.MaxAuthFrameBytes, l.MaxFrameBytes)
	}
	// A response frame carries the whole answer so far and its delta: a
	// queue that cannot hold one would drop every client a long answer
	// goes to, however fast it reads.
	if minPending := 2 * c.LLM.MaxAnswerBytes; l.MaxPendingBytes < minPending {
		p.addf("limits.max_pending_bytes", "%d is less than twice llm.max_answer_bytes (%d), the size of the last frame of a long answer",
			l.MaxPendingBytes, minPending)
	}
}

// validateHistory checks the rule of history.retention that its range
// cannot say: pruning runs hourly, so a retention under an hour would be
// applied as about an hour, and one of seconds is likely a unit mistaken.
func (c *Config) validateHistory(p *problems) {
	if r := c.History.Retention; r > 0 && r < time.Hour {
		p.addf("history.retention", "%s is neither 0 (keep) nor at least 1h (pruning runs hourly)", r)
	}
	if r := c.Audit.Retention; r > 0 && r < time.Hour {
		p.addf("audit.retention", "%s is neither 0 (keep) nor at least 1h (pruning runs hourly)", r)
	}
}

func (c *Config) validateLLM(p *problems) {
	l := c.LLM
	p.oneOf("llm.provider", l.Provider, "", "openai", "demo")
	if c.LLMProvider() == "openai" {
		if u, err := url.Parse(l.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.addf("llm.base_url", "must be an http or https URL")
		}
		if strings.TrimSpace(l.Model) == "" {
			p.addf("llm.model", "must not be empty")
		}
	}
	for i, f := range l.Fallbacks {
		key := "llm.fallbacks[" + strconv.Itoa(i) + "]"
		if u, err := url.Parse(f.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.addf(key+".base_url", "must be an http or https URL")
		}
		if strings.TrimSpace(f.Model) == "" {
			p.addf(key+".model", "must not be empty")
		}
	}
}

func (c *Config) validateStorage(p *problems) {
	p.oneOf("store.driver", c.Store.Driver, "sqlite", "postgres")
	if strings.TrimSpace(c.Store.DSN) == "" {
		p.addf("store.dsn", "must not be empty")
	}
	p.oneOf("cache.driver", c.Cache.Driver, "memory", "redis")
	if c.Cache.Driver == "redis" {
		// The parse error would quote the URL, password included.
		if u, err := url.Parse(c.Cache.URL); err != nil || !slices.Contains([]string{"redis", "rediss", "unix"}, u.Scheme) {
			p.addf("cache.url", "must be a redis://, rediss:// or unix:// URL")
		}
	}
	p.oneOf("cache.scope", c.Cache.Scope, "user", "shared")
}

// problems collects validation errors, each prefixed with its key.
type problems []error

func (p *problems) addf(key, format string, args ...any) {
	*p = append(*p, errors.New(key+": "+fmt.Sprintf(format, args...)))
}

func (p *problems) oneOf(key, v string, allowed ...string) {
	if slices.Contains(allowed, v) {
		return
	}
	names := make([]string, 0, len(allowed))
	for _, a := range allowed {
		if a != "" {
			names = append(names, a)
		}
	}
	p.addf(key, "%q is not one of %s", v, strings.Join(names, ", "))
}

func (p *problems) listen(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.addf(key, "%q is not a host:port address", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.addf(key, "%q has an invalid port", addr)
	}
}

// isOrigin accepts "*" or scheme://host[:port] with nothing after it, not
// even a slash, as browsers send it in the Origin header.
func isOrigin(s string) bool {
	if s == "*" {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.Host != "" && u.User == nil &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == ""
}

func knownAlgorithms() []string {
	return sortedKeys(keyKinds)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
