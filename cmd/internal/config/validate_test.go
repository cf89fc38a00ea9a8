package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	secret := strings.Repeat("s", MinSecretBytes)
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{name: "valid production", edit: func(*Config) {}},
		{name: "listen without port", edit: func(c *Config) { c.Server.Listen = "localhost" }, wantErr: "server.listen"},
		{name: "listen bad port", edit: func(c *Config) { c.Server.Listen = ":99999" }, wantErr: "server.listen"},
		{name: "admin listen", edit: func(c *Config) { c.Admin.Listen = "" }, wantErr: "admin.listen"},
		{name: "admin beyond loopback without token", edit: func(c *Config) { c.Admin.Listen = "0.0.0.0:9090" }, wantErr: "admin.listen"},
		{name: "admin beyond loopback with token", edit: func(c *Config) { c.Admin.Listen, c.Admin.Token = "0.0.0.0:9090", "t" }},
		{name: "admin on localhost", edit: func(c *Config) { c.Admin.Listen = "localhost:9090" }},
		{name: "admin on ::1", edit: func(c *Config) { c.Admin.Listen = "[::1]:9090" }},
		{name: "origin with path", edit: func(c *Config) { c.Server.AllowedOrigins = []string{"https://a.example/app"} }, wantErr: "server.allowed_origins"},
		{name: "origin bare host", edit: func(c *Config) { c.Server.AllowedOrigins = []string{"a.example"} }, wantErr: "server.allowed_origins"},
		{name: "origins ok", edit: func(c *Config) { c.Server.AllowedOrigins = []string{"*", "http://localhost:3000"} }},
		{name: "trusted proxy not a CIDR", edit: func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "lb.internal"} }, wantErr: `server.trusted_proxies: "lb.internal" is neither a CIDR`},
		{name: "trusted proxies ok", edit: func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "fd00::/8", "192.0.2.1"} }},
		{name: "max unauthenticated per ip", edit: func(c *Config) { c.Limits.MaxUnauthenticatedPerIP = 0 }, wantErr: "limits.max_unauthenticated_per_ip"},
		{name: "write timeout", edit: func(c *Config) { c.Server.WriteTimeout = 0 }, wantErr: "server.write_timeout"},
		{name: "ping interval", edit: func(c *Config) { c.Server.PingInterval = 0 }, wantErr: "server.ping_interval"},
		{name: "tls cert without key", edit: func(c *Config) { c.Server.TLSCertFile = "cert.pem" }, wantErr: "server.tls_key_file: is required when server.tls_cert_file is set"},
		{name: "tls key without cert", edit: func(c *Config) { c.Server.TLSKeyFile = "key.pem" }, wantErr: "server.tls_cert_file: is required when server.tls_key_file is set"},
		{name: "tls cert and key", edit: func(c *Config) { c.Server.TLSCertFile, c.Server.TLSKeyFile = "cert.pem", "key.pem" }},
		{name: "short secret", edit: func(c *Config) { c.Auth.JWTSecret = "short" }, wantErr: "auth.jwt_secret: must be at least 32 bytes"},
		{name: "short secret in dev", edit: func(c *Config) { c.Dev, c.Auth.JWTSecret = true, "short" }},
		{name: "unknown algorithm", edit: func(c *Config) { c.Auth.Algorithms = []string{"none"} }, wantErr: `auth.algorithms: unknown algorithm "none"`},
		{name: "no algorithms", edit: func(c *Config) { c.Auth.Algorithms = nil }, wantErr: "auth.algorithms"},
		{name: "mixed key kinds", edit: func(c *Config) {
			c.Auth.Algorithms, c.Auth.PublicKeyFile = []string{"HS256", "RS256"}, "k.pem"
		}, wantErr: "auth.algorithms: mixes key kinds HMAC and RSA"},
		{name: "asymmetric without key", edit: func(c *Config) { c.Auth.JWTSecret, c.Auth.Algorithms = "", []string{"RS256", "PS256"} }, wantErr: "auth.public_key_file"},
		{name: "asymmetric without key in dev", edit: func(c *Config) { c.Dev, c.Auth.Algorithms = true, []string{"EdDSA"} }, wantErr: "auth.public_key_file"},
		{name: "asymmetric with key", edit: func(c *Config) {
			c.Auth.JWTSecret, c.Auth.Algorithms, c.Auth.PublicKeyFile = "", []string{"ES256"}, "k.pem"
		}},
		{name: "user claim", edit: func(c *Config) { c.Auth.UserClaim = " " }, wantErr: "auth.user_claim"},
		{name: "negative leeway", edit: func(c *Config) { c.Auth.Leeway = -time.Second }, wantErr: "auth.leeway"},
		{name: "auth timeout", edit: func(c *Config) { c.Auth.Timeout = 0 }, wantErr: "auth.timeout"},
		{name: "max connections", edit: func(c *Config) { c.Limits.MaxConnectionsPerUser = 0 }, wantErr: "limits.max_connections_per_user"},
		{name: "max sessions", edit: func(c *Config) { c.Limits.MaxSessions = -1 }, wantErr: "limits.max_sessions"},
		{name: "max unauthenticated", edit: func(c *Config) { c.Limits.MaxUnauthenticated = 0 }, wantErr: "limits.max_unauthenticated"},
		{name: "max message chars", edit: func(c *Config) { c.Limits.MaxMessageChars = 0 }, wantErr: "limits.max_message_chars"},
		{name: "max frame bytes", edit: func(c *Config) { c.Limits.MaxFrameBytes = 0 }, wantErr: "limits.max_frame_bytes"},
		{name: "auth frame over frame", edit: func(c *Config) { c.Limits.MaxAuthFrameBytes = c.Limits.MaxFrameBytes + 1 }, wantErr: "limits.max_auth_frame_bytes: 65537 exceeds"},
		{name: "frames per second", edit: func(c *Config) { c.Limits.FramesPerSecond = 0 }, wantErr: "limits.frames_per_second"},
		{name: "frame burst", edit: func(c *Config) { c.Limits.FrameBurst = 0 }, wantErr: "limits.frame_burst"},
		{name: "max pending bytes", edit: func(c *Config) { c.Limits.MaxPendingBytes = 0 }, wantErr: "limits.max_pending_bytes"},
		{name: "history negative", edit: func(c *Config) { c.History.MaxMessages = -1 }, wantErr: "history.max_messages"},
		{name: "history zero", edit: func(c *Config) { c.History.MaxMessages = 0 }},
		{name: "history not persisted", edit: func(c *Config) { c.History.Persist = false }},
		{name: "history flush interval", edit: func(c *Config) { c.History.FlushInterval = time.Millisecond }, wantErr: "history.flush_interval: 1ms is outside"},
		{name: "history queue", edit: func(c *Config) { c.History.Queue = 0 }, wantErr: "history.queue: 0 is outside"},
		{name: "retention kept", edit: func(c *Config) { c.History.Retention = 0 }},
		{name: "retention of an hour", edit: func(c *Config) { c.History.Retention = time.Hour }},
		{name: "retention of 90 days", edit: func(c *Config) { c.History.Retention = 90 * 24 * time.Hour }},
		{name: "retention of 30m", edit: func(c *Config) { c.History.Retention = 30 * time.Minute },
			wantErr: "history.retention: 30m0s is neither 0 (keep) nor at least 1h"},
		{name: "retention of 1ns", edit: func(c *Config) { c.History.Retention = 1 }, wantErr: "history.retention: 1ns is neither"},
		{name: "retention negative", edit: func(c *Config) { c.History.Retention = -time.Hour }, wantErr: "history.retention: -1h0m0s is outside"},
		{name: "resume window off", edit: func(c *Config) { c.Stream.ResumeWindow = 0 }},
		{name: "resume window of an hour", edit: func(c *Config) { c.Stream.ResumeWindow = time.Hour }, wantErr: "stream.resume_window: 1h0m0s is outside"},
		{name: "no notice", edit: func(c *Config) { c.Coach.Notice = "" }},
		{name: "provider", edit: func(c *Config) { c.LLM.Provider = "anthropic" }, wantErr: `llm.provider: "anthropic" is not one of openai, demo`},
		{name: "openai base url", edit: func(c *Config) { c.LLM.Provider, c.LLM.BaseURL = "openai", "api.openai.com" }, wantErr: "llm.base_url"},
		{name: "demo ignores base url", edit: func(c *Config) { c.LLM.BaseURL = "" }},
		{name: "openai model", edit: func(c *Config) { c.LLM.APIKey, c.LLM.Model = "sk", "" }, wantErr: "llm.model"},
		{name: "llm timeout", edit: func(c *Config) { c.LLM.Timeout = 0 }, wantErr: "llm.timeout"},
		{name: "max tokens", edit: func(c *Config) { c.LLM.MaxTokens = 0 }, wantErr: "llm.max_tokens"},
		{name: "temperature", edit: func(c *Config) { c.LLM.Temperature = 2.5 }, wantErr: "llm.temperature"},
		{name: "max retries", edit: func(c *Config) { c.LLM.MaxRetries = -1 }, wantErr: "llm.max_retries"},
		{name: "per minute", edit: func(c *Config) { c.LLM.RateLimit.PerMinute = 0 }, wantErr: "llm.rate_limit.per_minute"},
		{name: "burst", edit: func(c *Config) { c.LLM.RateLimit.Burst = 0 }, wantErr: "llm.rate_limit.burst"},
		{name: "store driver", edit: func(c *Config) { c.Store.Driver = "mysql" }, wantErr: `store.driver: "mysql"`},
		{name: "store dsn", edit: func(c *Config) { c.Store.DSN = "" }, wantErr: "store.dsn"},
		{name: "cache driver", edit: func(c *Config) { c.Cache.Driver = "memcached" }, wantErr: "cache.driver"},
		{name: "redis url", edit: func(c *Config) { c.Cache.Driver, c.Cache.URL = "redis", "http://r" }, wantErr: "cache.url"},
		{name: "memory ignores url", edit: func(c *Config) { c.Cache.URL = "" }},
		{name: "cache ttl", edit: func(c *Config) { c.Cache.TTL = 0 }, wantErr: "cache.ttl"},
		{name: "cache scope", edit: func(c *Config) { c.Cache.Scope = "global" }, wantErr: "cache.scope"},
		{name: "cache max entries", edit: func(c *Config) { c.Cache.MaxEntries = 0 }, wantErr: "cache.max_entries"},
		{name: "flush interval", edit: func(c *Config) { c.Stream.FlushInterval = 0 }, wantErr: "stream.flush_interval"},
		{name: "flush bytes", edit: func(c *Config) { c.Stream.FlushBytes = 0 }, wantErr: "stream.flush_bytes"},
		{name: "drain timeout", edit: func(c *Config) { c.Shutdown.DrainTimeout = -time.Second }, wantErr: "shutdown.drain_timeout"},
		{name: "log level", edit: func(c *Config) { c.Log.Level = "trace" }, wantErr: "log.level"},
		{name: "log format", edit: func(c *Config) { c.Log.Format = "xml" }, wantErr: "log.format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Auth.JWTSecret = secret
			tt.edit(&c)
			checkErr(t, c.Validate(), tt.wantErr)
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Store.Driver = "mysql"
	c.Log.Level = "loud"
	c.LLM.RateLimit.Burst = 0
	err := c.Validate()
	for _, key := range []string{"auth.jwt_secret", "store.driver", "log.level", "llm.rate_limit.burst"} {
		if err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("error %v does not mention %s", err, key)
		}
	}
}

func TestValidateNeverQuotesSecrets(t *testing.T) {
	c := Default()
	c.Auth.JWTSecret = "tooshort-secret"
	c.Cache.Driver, c.Cache.URL = "redis", "http://:tooshort-secret@r"
	c.LLM.APIKey, c.LLM.BaseURL = "k", "ftp://:tooshort-secret@x"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "tooshort-secret") {
		t.Errorf("error quotes a secret: %v", err)
	}
}

// The store commands run without a JWT secret or listeners, but not with a
// broken store configuration.
func TestValidateStore(t *testing.T) {
	c := Default()
	if err := c.Validate(); err == nil {
		t.Fatal("the defaults outside dev mode should need a secret")
	}
	if err := c.ValidateStore(); err != nil {
		t.Fatalf("store commands refused the defaults: %v", err)
	}
	c.Store.Driver = "oracle"
	if err := c.ValidateStore(); err == nil || !strings.Contains(err.Error(), "store.driver") {
		t.Fatalf("want a store.driver error, got %v", err)
	}
}
