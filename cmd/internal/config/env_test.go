package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*Config)
	}{
		{
			name: "nested int",
			env:  map[string]string{"WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE": "60"},
			want: func(c *Config) { c.LLM.RateLimit.PerMinute = 60 },
		},
		{
			name: "list",
			env:  map[string]string{"WEALTHCOACH_SERVER_ALLOWED_ORIGINS": "https://a.example, https://b.example,,"},
			want: func(c *Config) { c.Server.AllowedOrigins = []string{"https://a.example", "https://b.example"} },
		},
		{
			name: "durations",
			env:  map[string]string{"WEALTHCOACH_AUTH_LEEWAY": "0", "WEALTHCOACH_STREAM_FLUSH_INTERVAL": "5ms"},
			want: func(c *Config) { c.Auth.Leeway, c.Stream.FlushInterval = 0, 5*time.Millisecond },
		},
		{
			name: "bools",
			env:  map[string]string{"WEALTHCOACH_DEV": "true", "WEALTHCOACH_STORE_MIGRATE_ON_START": "0"},
			want: func(c *Config) { c.Dev, c.Store.MigrateOnStart = true, false },
		},
		{
			name: "float and strings",
			env:  map[string]string{"WEALTHCOACH_LLM_TEMPERATURE": "0.2", "WEALTHCOACH_AUTH_JWT_SECRET": "s3cret", "WEALTHCOACH_SERVER_LISTEN": ":0"},
			want: func(c *Config) { c.LLM.Temperature, c.Auth.JWTSecret, c.Server.Listen = 0.2, "s3cret", ":0" },
		},
		{
			name: "conversation keys",
			env: map[string]string{"WEALTHCOACH_HISTORY_PERSIST": "false", "WEALTHCOACH_HISTORY_QUEUE": "500",
				"WEALTHCOACH_HISTORY_RETENTION": "720h", "WEALTHCOACH_STREAM_RESUME_WINDOW": "0"},
			want: func(c *Config) {
				c.History.Persist, c.History.Queue, c.History.Retention = false, 500, 720*time.Hour
				c.Stream.ResumeWindow = 0
			},
		},
		{
			name: "empty variable is unset",
			env:  map[string]string{"WEALTHCOACH_LLM_MAX_TOKENS": "", "OPENAI_API_KEY": "", "DATABASE_URL": ""},
			want: func(*Config) {},
		},
		{
			name: "OPENAI_API_KEY",
			env:  map[string]string{"OPENAI_API_KEY": "sk-1"},
			want: func(c *Config) { c.LLM.APIKey = "sk-1" },
		},
		{
			name: "REDIS_URL selects redis",
			env:  map[string]string{"REDIS_URL": "redis://r:6379/1"},
			want: func(c *Config) { c.Cache.URL, c.Cache.Driver = "redis://r:6379/1", "redis" },
		},
		{
			name: "DATABASE_URL selects postgres",
			env:  map[string]string{"DATABASE_URL": "postgres://db/x"},
			want: func(c *Config) { c.Store.DSN, c.Store.Driver = "postgres://db/x", "postgres" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Load("", false, envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEnvAliasPrecedence(t *testing.T) {
	tests := []struct {
		name                  string
		env                   map[string]string
		storeDriver, storeDSN string
		cacheDriver, cacheURL string
		apiKey                string
	}{
		{
			name:        "WEALTHCOACH_STORE_DSN wins over DATABASE_URL",
			env:         map[string]string{"DATABASE_URL": "postgres://alias/db", "WEALTHCOACH_STORE_DSN": "postgres://own/db"},
			storeDriver: "postgres", storeDSN: "postgres://own/db",
			cacheDriver: "memory", cacheURL: "redis://127.0.0.1:6379/0",
		},
		{
			name:        "WEALTHCOACH_STORE_DRIVER wins over DATABASE_URL",
			env:         map[string]string{"DATABASE_URL": "postgres://alias/db", "WEALTHCOACH_STORE_DRIVER": "sqlite", "WEALTHCOACH_STORE_DSN": "local.db"},
			storeDriver: "sqlite", storeDSN: "local.db",
			cacheDriver: "memory", cacheURL: "redis://127.0.0.1:6379/0",
		},
		{
			name:        "WEALTHCOACH_CACHE_DRIVER wins over REDIS_URL",
			env:         map[string]string{"REDIS_URL": "redis://alias:6379/0", "WEALTHCOACH_CACHE_DRIVER": "memory"},
			storeDriver: "sqlite", storeDSN: "wealthcoach.db",
			cacheDriver: "memory", cacheURL: "redis://alias:6379/0",
		},
		{
			name:        "WEALTHCOACH_LLM_API_KEY wins over OPENAI_API_KEY",
			env:         map[string]string{"OPENAI_API_KEY": "sk-alias", "WEALTHCOACH_LLM_API_KEY": "sk-own"},
			storeDriver: "sqlite", storeDSN: "wealthcoach.db",
			cacheDriver: "memory", cacheURL: "redis://127.0.0.1:6379/0",
			apiKey: "sk-own",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load("", false, envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			got := [5]string{c.Store.Driver, c.Store.DSN, c.Cache.Driver, c.Cache.URL, c.LLM.APIKey}
			want := [5]string{tt.storeDriver, tt.storeDSN, tt.cacheDriver, tt.cacheURL, tt.apiKey}
			if got != want {
				t.Errorf("store/cache/api key = %q, want %q", got, want)
			}
		})
	}
}

func TestEnvAliasesYieldToFile(t *testing.T) {
	// The environment wins over the file, aliases included.
	path := writeConfig(t, "store:\n  driver: sqlite\n  dsn: file.db\n")
	c, _, err := Load(path, true, envMap(map[string]string{"DATABASE_URL": "postgres://db/x"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Driver != "postgres" || c.Store.DSN != "postgres://db/x" {
		t.Errorf("store = %s %s, want postgres postgres://db/x", c.Store.Driver, c.Store.DSN)
	}
}

func TestEnvMalformed(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantErr  []string
		wantNone string
	}{
		{name: "int", env: map[string]string{"WEALTHCOACH_LIMITS_MAX_SESSIONS": "many"}, wantErr: []string{"WEALTHCOACH_LIMITS_MAX_SESSIONS", `"many"`, "integer"}},
		{name: "bool", env: map[string]string{"WEALTHCOACH_DEV": "sure"}, wantErr: []string{"WEALTHCOACH_DEV", `"sure"`, "bool"}},
		{name: "duration", env: map[string]string{"WEALTHCOACH_AUTH_TIMEOUT": "30"}, wantErr: []string{"WEALTHCOACH_AUTH_TIMEOUT", "duration"}},
		{name: "float", env: map[string]string{"WEALTHCOACH_LLM_TEMPERATURE": "warm"}, wantErr: []string{"WEALTHCOACH_LLM_TEMPERATURE", "number"}},
		{
			name:    "every bad variable reported",
			env:     map[string]string{"WEALTHCOACH_LLM_MAX_TOKENS": "x", "WEALTHCOACH_CACHE_TTL": "y"},
			wantErr: []string{"WEALTHCOACH_LLM_MAX_TOKENS", "WEALTHCOACH_CACHE_TTL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", false, envMap(tt.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// The configuration's secrets are all strings, which never fail to parse,
// so the hiding is checked on the generic override with a struct of its own.
func TestEnvMalformedSecretIsNotEchoed(t *testing.T) {
	type creds struct {
		APIKey      int           `yaml:"api_key"`
		TokenTTL    time.Duration `yaml:"token"`
		DSN         bool          `yaml:"dsn"`
		CallbackURL float64       `yaml:"callback_url"`
		Secret      int           `yaml:"jwt_secret"`
	}
	const value = "hunter2-do-not-print"
	tests := []struct{ key, name string }{
		{"x.api_key", "WEALTHCOACH_X_API_KEY"},
		{"x.token", "WEALTHCOACH_X_TOKEN"},
		{"x.dsn", "WEALTHCOACH_X_DSN"},
		{"x.callback_url", "WEALTHCOACH_X_CALLBACK_URL"},
		{"x.jwt_secret", "WEALTHCOACH_X_JWT_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			var c struct {
				X creds `yaml:"x"`
			}
			err := overrideFromEnv(reflect.ValueOf(&c).Elem(), envMap(map[string]string{tt.name: value}).Lookup)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.name) {
				t.Errorf("error %q does not name %s", err, tt.name)
			}
			if strings.Contains(err.Error(), value) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q echoes the secret value", err)
			}
		})
	}
}

func TestEnvUnknownVariables(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // each must appear; none means no error
		notIn   []string // must not appear in the error
	}{
		{
			name:    "typo of a key",
			env:     map[string]string{"WEALTHCOACH_AUTH_AUDIENCES": "app"},
			wantErr: []string{"env WEALTHCOACH_AUTH_AUDIENCES: unknown variable", "did you mean WEALTHCOACH_AUTH_AUDIENCE?"},
		},
		{
			name:    "nothing near",
			env:     map[string]string{"WEALTHCOACH_TURBO": "1"},
			wantErr: []string{"env WEALTHCOACH_TURBO: unknown variable"},
			notIn:   []string{"did you mean"},
		},
		{
			name:    "value of a misspelt secret is not echoed",
			env:     map[string]string{"WEALTHCOACH_AUTH_JWT_SECRETS": "hunter2-do-not-print"},
			wantErr: []string{"WEALTHCOACH_AUTH_JWT_SECRETS", "did you mean WEALTHCOACH_AUTH_JWT_SECRET?"},
			notIn:   []string{"hunter2"},
		},
		{
			name:    "every unknown variable reported, with the known ones applied",
			env:     map[string]string{"WEALTHCOACH_LLM_MAXTOKENS": "9", "WEALTHCOACH_CACHE_TTLS": "1h", "WEALTHCOACH_LLM_MAX_TOKENS": "9"},
			wantErr: []string{"WEALTHCOACH_CACHE_TTLS", "WEALTHCOACH_LLM_MAXTOKENS", "did you mean WEALTHCOACH_LLM_MAX_TOKENS?"},
		},
		{
			name:    "unknown and malformed together",
			env:     map[string]string{"WEALTHCOACH_DEVV": "true", "WEALTHCOACH_DEV": "sure"},
			wantErr: []string{"WEALTHCOACH_DEVV", "did you mean WEALTHCOACH_DEV?", `env WEALTHCOACH_DEV: "sure" is not a valid bool`},
		},
		{name: "exception", env: map[string]string{"WEALTHCOACH_REQUIRE_SERVICES": "1"}},
		{name: "empty counts as unset", env: map[string]string{"WEALTHCOACH_AUTH_AUDIENCES": ""}},
		{name: "other namespaces", env: map[string]string{"WEALTHCOACHX": "1", "wealthcoach_dev": "1", "HOME": "/root", "OPENAI_API_KEY": "sk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", false, envMap(tt.env))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one naming %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			for _, bad := range tt.notIn {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("error %q contains %q", err, bad)
				}
			}
		})
	}
}

// With no environment given, Load lists the process's; a lookup given
// alone cannot list, so the check is skipped.
func TestEnvUnknownVariablesSources(t *testing.T) {
	t.Setenv("WEALTHCOACH_AUTH_AUDIENCES", "app")
	if _, _, err := Load("", false, Env{}); err == nil || !strings.Contains(err.Error(), "WEALTHCOACH_AUTH_AUDIENCES") {
		t.Errorf("process environment: error %v, want one naming WEALTHCOACH_AUTH_AUDIENCES", err)
	}
	lookupOnly := Env{Lookup: envMap(map[string]string{"WEALTHCOACH_AUTH_AUDIENCES": "app"}).Lookup}
	if _, _, err := Load("", false, lookupOnly); err != nil {
		t.Errorf("lookup only: %v", err)
	}
}

func TestOtherEnvVars(t *testing.T) {
	keys := map[string]bool{}
	c := Default()
	for _, l := range leaves(reflect.ValueOf(&c).Elem(), "") {
		keys[EnvVar(l.key)] = true
	}
	for _, name := range OtherEnvVars {
		if !strings.HasPrefix(name, envPrefix) || keys[name] {
			t.Errorf("%s is outside the namespace or a key's own variable", name)
		}
	}
}
