package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	tests := []struct {
		name     string
		explicit bool
		wantErr  string
	}{
		{name: "explicit", explicit: true, wantErr: "nope.yaml"},
		{name: "implicit", explicit: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, source, err := Load(missing, tt.explicit, envMap(nil))
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if source != SourceDefaults {
				t.Errorf("source = %q, want %q", source, SourceDefaults)
			}
			if !reflect.DeepEqual(got, Default()) {
				t.Errorf("got %+v, want Default()", got)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{
			name: "overlay keeps unmentioned keys",
			yaml: "server:\n  listen: \":0\"\nllm:\n  rate_limit:\n    burst: 9\n",
			check: func(t *testing.T, c Config) {
				want := Default()
				want.Server.Listen = ":0"
				want.LLM.RateLimit.Burst = 9
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got %+v, want %+v", c, want)
				}
			},
		},
		{
			name: "durations and lists",
			yaml: "auth:\n  leeway: 0\n  algorithms: [RS256]\ncache:\n  ttl: 1h30m\nserver:\n  allowed_origins: [\"https://a.example\"]\n",
			check: func(t *testing.T, c Config) {
				if c.Auth.Leeway != 0 || c.Cache.TTL != 90*time.Minute {
					t.Errorf("leeway %s ttl %s, want 0s 1h30m0s", c.Auth.Leeway, c.Cache.TTL)
				}
				if !reflect.DeepEqual(c.Auth.Algorithms, []string{"RS256"}) || !reflect.DeepEqual(c.Server.AllowedOrigins, []string{"https://a.example"}) {
					t.Errorf("algorithms %q origins %q", c.Auth.Algorithms, c.Server.AllowedOrigins)
				}
			},
		},
		{name: "empty file", yaml: "", check: isDefault},
		{name: "only comments", yaml: "# nothing\n", check: isDefault},
		{name: "empty value keeps default", yaml: "auth:\n  user_claim:\n  leeway:\n", check: isDefault},
		{name: "unknown top-level key", yaml: "servre:\n  listen: x\n", wantErr: `unknown key "servre"`},
		{name: "unknown nested key", yaml: "llm:\n  rate_limit:\n    per_hour: 3\n", wantErr: `line 3: unknown key "llm.rate_limit.per_hour"`},
		{name: "duration without unit", yaml: "auth:\n  timeout: 30\n", wantErr: `auth.timeout: "30" is not a duration`},
		{name: "wrong type", yaml: "limits:\n  max_sessions: lots\n", wantErr: `line 2: limits.max_sessions: "lots" is not an integer`},
		{name: "scalar for list", yaml: "auth:\n  algorithms: HS256\n", wantErr: `auth.algorithms: "HS256" is not a list`},
		{name: "list for bool", yaml: "dev: [true]\n", wantErr: "dev: expected true or false"},
		{name: "section not a mapping", yaml: "server: 8080\n", wantErr: "server: expected a mapping"},
		{name: "not a mapping", yaml: "- a\n", wantErr: "top level: expected a mapping"},
		{name: "anchors", yaml: "auth:\n  leeway: &z 0\n  timeout: *z\n", check: func(t *testing.T, c Config) {
			if c.Auth.Leeway != 0 || c.Auth.Timeout != 0 {
				t.Errorf("leeway %s timeout %s, want 0s 0s", c.Auth.Leeway, c.Auth.Timeout)
			}
		}},
		{name: "two documents", yaml: "dev: true\n---\ndev: false\n", wantErr: "more than one YAML document"},
		{name: "syntax error", yaml: "server: [\n", wantErr: "config.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(writeConfig(t, tt.yaml), true, envMap(nil))
			checkErr(t, err, tt.wantErr)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func isDefault(t *testing.T, c Config) {
	t.Helper()
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("got %+v, want Default()", c)
	}
}

func TestLoadEnvOverridesFile(t *testing.T) {
	path := writeConfig(t, "llm:\n  model: from-file\n  max_tokens: 100\n")
	c, _, err := Load(path, false, envMap(map[string]string{"WEALTHCOACH_LLM_MODEL": "from-env"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.LLM.Model != "from-env" || c.LLM.MaxTokens != 100 {
		t.Errorf("model %q max_tokens %d, want from-env 100", c.LLM.Model, c.LLM.MaxTokens)
	}
}

// TestCoachNotice turns the notice off the ways config.yaml documents: ""
// or off in the file, off in the environment (where "" means unset).
func TestCoachNotice(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string
	}{
		{name: "default", want: DefaultNotice},
		{name: "empty in the file", yaml: "coach:\n  notice: \"\"\n", want: ""},
		{name: "off in the file", yaml: "coach:\n  notice: off\n", want: ""},
		{name: "null in the file keeps the default", yaml: "coach:\n  notice:\n", want: DefaultNotice},
		{name: "own text in the file", yaml: "coach:\n  notice: \"An AI, not an adviser.\"\n", want: "An AI, not an adviser."},
		{name: "off in the environment", env: map[string]string{"WEALTHCOACH_COACH_NOTICE": "off"}, want: ""},
		{name: "OFF in the environment", env: map[string]string{"WEALTHCOACH_COACH_NOTICE": " OFF "}, want: ""},
		{name: "empty in the environment is unset", env: map[string]string{"WEALTHCOACH_COACH_NOTICE": ""}, want: DefaultNotice},
		{name: "own text in the environment", env: map[string]string{"WEALTHCOACH_COACH_NOTICE": "Offline coach."}, want: "Offline coach."},
		{name: "environment over an empty file value", yaml: "coach:\n  notice: \"\"\n",
			env: map[string]string{"WEALTHCOACH_COACH_NOTICE": "Back on."}, want: "Back on."},
		{name: "off in the environment over the file", yaml: "coach:\n  notice: \"From the file.\"\n",
			env: map[string]string{"WEALTHCOACH_COACH_NOTICE": "off"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(writeConfig(t, tt.yaml), true, envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Coach.Notice != tt.want {
				t.Errorf("coach.notice = %q, want %q", c.Coach.Notice, tt.want)
			}
		})
	}
}
