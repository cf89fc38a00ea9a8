package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestRedacted(t *testing.T) {
	c := Default()
	c.Auth.JWTSecret = "jwt-secret-value"
	c.Admin.Token = "admin-token-value"
	c.LLM.APIKey = "sk-api-key-value"
	c.Store.DSN = "postgres://app:db-password-value@db:5432/coach?sslmode=disable"
	c.Cache.URL = "redis://:redis-password-value@cache:6379/0"
	c.Auth.Algorithms = []string{"HS256"}

	r := c.Redacted()

	tests := []struct {
		name, got, want string
	}{
		{"auth.jwt_secret", r.Auth.JWTSecret, "[redacted]"},
		{"admin.token", r.Admin.Token, "[redacted]"},
		{"llm.api_key", r.LLM.APIKey, "[redacted]"},
		{"store.dsn", r.Store.DSN, "postgres://app:[redacted]@db:5432/coach?sslmode=disable"},
		{"cache.url", r.Cache.URL, "redis://:[redacted]@cache:6379/0"},
		{"llm.base_url", r.LLM.BaseURL, c.LLM.BaseURL},
		{"auth.public_key_file", r.Auth.PublicKeyFile, c.Auth.PublicKeyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	t.Run("printed", func(t *testing.T) {
		out := fmt.Sprintf("%+v", r)
		for _, s := range []string{"jwt-secret-value", "admin-token-value", "sk-api-key-value", "db-password-value", "redis-password-value"} {
			if strings.Contains(out, s) {
				t.Errorf("redacted config still contains %q", s)
			}
		}
	})
	t.Run("original untouched", func(t *testing.T) {
		if c.Auth.JWTSecret != "jwt-secret-value" || c.Store.DSN == r.Store.DSN {
			t.Error("Redacted modified its receiver")
		}
		r.Auth.Algorithms[0] = "RS256"
		if c.Auth.Algorithms[0] != "HS256" {
			t.Error("Redacted shares its lists with the receiver")
		}
	})
	t.Run("unset secrets stay empty", func(t *testing.T) {
		d := Default()
		if got := d.Redacted(); !reflect.DeepEqual(got, d) {
			t.Errorf("Redacted of defaults = %+v, want unchanged", got)
		}
	})
}

func TestRedactCredential(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"wealthcoach.db", "wealthcoach.db"},
		{"postgres://app@db/coach", "postgres://app@db/coach"},
		{"postgres://app:p%40ss@db/coach", "postgres://app:[redacted]@db/coach"},
		{"postgres://db/coach?user=app&password=pw&sslmode=require", "postgres://db/coach?user=app&password=[redacted]&sslmode=require"},
		{"host=db user=app password='p w' dbname=coach", "host=db user=app password=[redacted] dbname=coach"},
		{"host=db password=pw sslpassword=kp", "host=db password=[redacted] sslpassword=[redacted]"},
		{"redis://:pw@[::1]:6379/0", "redis://:[redacted]@[::1]:6379/0"},
		{"postgres://app:pw@db:bad port/x", "[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := redactCredential(tt.in); got != tt.want {
				t.Errorf("redactCredential(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
