package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

const repoConfig = "../../../config.yaml"

// envMap is an environment for Load that never touches the process's: it
// both looks variables up and lists them.
func envMap(m map[string]string) Env {
	return Env{
		Lookup: func(name string) (string, bool) {
			v, ok := m[name]
			return v, ok
		},
		Environ: func() []string {
			list := make([]string, 0, len(m))
			for k, v := range m {
				list = append(list, k+"="+v)
			}
			return list
		},
	}
}

func TestDefaultValidity(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{name: "dev mode", edit: func(c *Config) { c.Dev = true }},
		{name: "production without secret", edit: func(*Config) {}, wantErr: "auth.jwt_secret"},
		{name: "production with secret", edit: func(c *Config) { c.Auth.JWTSecret = strings.Repeat("k", MinSecretBytes) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(&c)
			checkErr(t, c.Validate(), tt.wantErr)
		})
	}
}

// TestRepoConfigDocumentsEveryKey keeps config.yaml in step with Config: a
// new field must be documented there with its environment variable.
func TestRepoConfigDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(repoConfig)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	c := Default()
	for _, l := range leaves(reflect.ValueOf(&c).Elem(), "") {
		t.Run(l.key, func(t *testing.T) {
			last := l.key[strings.LastIndex(l.key, ".")+1:]
			if !strings.Contains(text, "\n"+indent(l.key)+last+":") {
				t.Errorf("config.yaml does not set %s", l.key)
			}
			if !strings.Contains(text, "Env "+EnvVar(l.key)) {
				t.Errorf("config.yaml does not name %s", EnvVar(l.key))
			}
		})
	}
}

func indent(key string) string {
	return strings.Repeat("  ", strings.Count(key, "."))
}

func TestEnvVarsAreUnique(t *testing.T) {
	c := Default()
	seen := map[string]string{}
	for _, l := range leaves(reflect.ValueOf(&c).Elem(), "") {
		name := EnvVar(l.key)
		if other, ok := seen[name]; ok {
			t.Errorf("%s and %s share %s", other, l.key, name)
		}
		seen[name] = l.key
	}
	if got, want := seen["WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE"], "llm.rate_limit.per_minute"; got != want {
		t.Errorf("WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE -> %q, want %q", got, want)
	}
}

func TestResolvedValues(t *testing.T) {
	tests := []struct {
		name         string
		edit         func(*Config)
		provider     string
		format       string
		level        string
		slogLevelStr string
	}{
		{name: "defaults", edit: func(*Config) {}, provider: "demo", format: "json", slogLevelStr: "INFO"},
		{name: "api key", edit: func(c *Config) { c.LLM.APIKey = "sk-x" }, provider: "openai", format: "json", slogLevelStr: "INFO"},
		{name: "explicit demo with key", edit: func(c *Config) { c.LLM.APIKey, c.LLM.Provider = "sk-x", "demo" }, provider: "demo", format: "json", slogLevelStr: "INFO"},
		{name: "dev", edit: func(c *Config) { c.Dev = true }, provider: "demo", format: "text", slogLevelStr: "INFO"},
		{name: "dev explicit json", edit: func(c *Config) { c.Dev, c.Log.Format = true, "json" }, provider: "demo", format: "json", slogLevelStr: "INFO"},
		{name: "debug", edit: func(c *Config) { c.Log.Level = "debug" }, provider: "demo", format: "json", slogLevelStr: "DEBUG"},
		{name: "warn", edit: func(c *Config) { c.Log.Level = "warn" }, provider: "demo", format: "json", slogLevelStr: "WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(&c)
			if got := c.LLMProvider(); got != tt.provider {
				t.Errorf("LLMProvider() = %q, want %q", got, tt.provider)
			}
			if got := c.LogFormat(); got != tt.format {
				t.Errorf("LogFormat() = %q, want %q", got, tt.format)
			}
			if got := c.LogLevel().String(); got != tt.slogLevelStr {
				t.Errorf("LogLevel() = %s, want %s", got, tt.slogLevelStr)
			}
		})
	}
}

// checkErr fails unless err is nil when want is "", or contains want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}
