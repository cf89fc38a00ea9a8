package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestFallbacksFromEnv reads llm.fallbacks from its variable as JSON and
// refuses malformed JSON without quoting it: it holds API keys.
func TestFallbacksFromEnv(t *testing.T) {
	const secret = "sk-fallback-secret"
	tests := []struct {
		name    string
		raw     string
		want    []Fallback
		wantErr bool
	}{
		{name: "two", raw: `[{"base_url":"https://a.example/v1","api_key":"` + secret + `","model":"m1"},{"base_url":"http://b.example/v1","model":"m2"}]`,
			want: []Fallback{{BaseURL: "https://a.example/v1", APIKey: secret, Model: "m1"}, {BaseURL: "http://b.example/v1", Model: "m2"}}},
		{name: "empty list", raw: `[]`, want: []Fallback{}},
		{name: "not JSON", raw: `https://a.example/v1,` + secret, wantErr: true},
		{name: "unknown field", raw: `[{"base_url":"https://a.example/v1","key":"` + secret + `","model":"m"}]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load("", false, envMap(map[string]string{"WEALTHCOACH_LLM_FALLBACKS": tt.raw}))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "WEALTHCOACH_LLM_FALLBACKS") || strings.Contains(err.Error(), secret) {
					t.Fatalf("error %v, want one naming the variable and not quoting it", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.LLM.Fallbacks, tt.want) {
				t.Errorf("fallbacks %+v, want %+v", c.LLM.Fallbacks, tt.want)
			}
		})
	}
}

// TestFallbacksFromFile reads the list from YAML and validates each item.
func TestFallbacksFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "llm:\n  fallbacks:\n    - base_url: https://a.example/v1\n      api_key: k\n      model: m1\n    - base_url: nope\n      model: \"\"\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := Load(path, true, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.LLM.Fallbacks) != 2 || c.LLM.Fallbacks[0] != (Fallback{BaseURL: "https://a.example/v1", APIKey: "k", Model: "m1"}) {
		t.Fatalf("fallbacks %+v", c.LLM.Fallbacks)
	}
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "llm.fallbacks[1].base_url") || !strings.Contains(err.Error(), "llm.fallbacks[1].model") ||
		strings.Contains(err.Error(), "llm.fallbacks[0]") {
		t.Fatalf("error %v, want llm.fallbacks[1]'s base_url and model only", err)
	}
}

// TestFallbackKeysRedacted keeps every fallback's api_key out of the
// printed configuration, without touching the original.
func TestFallbackKeysRedacted(t *testing.T) {
	c := Default()
	c.LLM.Fallbacks = []Fallback{{BaseURL: "https://u:pw@a.example/v1", APIKey: "sk-1", Model: "m1"}, {BaseURL: "https://b.example/v1", Model: "m2"}}
	r := c.Redacted()
	out, err := json.Marshal(r.LLM.Fallbacks)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"sk-1", "pw"} {
		if strings.Contains(string(out), s) {
			t.Errorf("redacted fallbacks %s contain %q", out, s)
		}
	}
	if r.LLM.Fallbacks[1].APIKey != "" || r.LLM.Fallbacks[0].Model != "m1" {
		t.Errorf("redacted fallbacks %+v: an empty key stays empty, the model is kept", r.LLM.Fallbacks)
	}
	if c.LLM.Fallbacks[0].APIKey != "sk-1" {
		t.Errorf("Redacted changed the original: %+v", c.LLM.Fallbacks[0])
	}
}
