package config

import (
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
)

const repoReadme = "../../../README.md"

// validBase is a valid production configuration whose keys that other keys
// are checked against sit where any value of those in range is valid.
func validBase() Config {
	c := Default()
	c.Auth.JWTSecret = strings.Repeat("s", MinSecretBytes)
	c.Limits.MaxAuthFrameBytes = kib    // at most any max_frame_bytes
	c.Limits.MaxPendingBytes = 64 * mib // twice any llm.max_answer_bytes
	return c
}

// leafOf returns the settable field of key in c.
func leafOf(t *testing.T, c *Config, key string) reflect.Value {
	t.Helper()
	for _, l := range leaves(reflect.ValueOf(c).Elem(), "") {
		if l.key == key {
			return l.value
		}
	}
	t.Fatalf("no key %s", key)
	return reflect.Value{}
}

// set stores x in a numeric field, rounding toward the field's unit.
func set(v reflect.Value, x float64) {
	if v.CanFloat() {
		v.SetFloat(x)
		return
	}
	v.SetInt(int64(x))
}

// step is the smallest change of a field: one unit of an integer or
// duration, the next representable number of a float. The ranges are
// float64, so past 2^53 (a duration of 104 days) one unit is lost in the
// comparison; there the step is the next number float64 can tell apart.
func step(v reflect.Value, x, toward float64) float64 {
	next := math.Nextafter(x, toward)
	if v.CanFloat() {
		return next
	}
	if toward > x {
		return math.Max(x+1, next)
	}
	return math.Min(x-1, next)
}

// TestBounds checks each range at both ends: the end itself is valid, one
// step beyond it is refused with the key, the value and the range.
func TestBounds(t *testing.T) {
	for _, b := range bounds {
		t.Run(b.key, func(t *testing.T) {
			probe := validBase()
			field := leafOf(t, &probe, b.key)
			cases := []struct {
				name string
				x    float64
				ok   bool
			}{
				{"min", b.min, true},
				{"max", b.max, true},
				{"below min", step(field, b.min, math.Inf(-1)), false},
				{"above max", step(field, b.max, math.Inf(1)), false},
			}
			for _, tc := range cases {
				c := validBase()
				v := leafOf(t, &c, b.key)
				set(v, tc.x)
				err := c.Validate()
				if tc.ok {
					if err != nil {
						t.Errorf("%s (%v): unexpected error: %v", tc.name, v, err)
					}
					continue
				}
				_, shown := numeric(v)
				want := b.key + ": " + shown + " is outside the allowed range " + b.rangeText(field.Type())
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error %v, want one containing %q", tc.name, err, want)
				}
			}
		})
	}
}

// TestEveryNumberIsBounded keeps the table complete: a new numeric or
// duration key must be given a range.
func TestEveryNumberIsBounded(t *testing.T) {
	c := Default()
	numericKeys := map[string]bool{}
	for _, l := range leaves(reflect.ValueOf(&c).Elem(), "") {
		switch l.value.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			numericKeys[l.key] = true
		}
	}
	seen := map[string]bool{}
	for _, b := range bounds {
		if !numericKeys[b.key] {
			t.Errorf("bound for %s, which is not a numeric key", b.key)
		}
		if seen[b.key] {
			t.Errorf("two bounds for %s", b.key)
		}
		if b.min > b.max || b.why == "" {
			t.Errorf("%s: range %g..%g, why %q", b.key, b.min, b.max, b.why)
		}
		seen[b.key] = true
	}
	for key := range numericKeys {
		if !seen[key] {
			t.Errorf("%s has no bound", key)
		}
	}
	// The defaults must be inside their ranges.
	c.Auth.JWTSecret = strings.Repeat("s", MinSecretBytes)
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestNonFiniteNumbers(t *testing.T) {
	tests := []struct {
		name string
		x    float64
	}{
		{"NaN", math.NaN()},
		{"+Inf", math.Inf(1)},
		{"-Inf", math.Inf(-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validBase()
			c.LLM.Temperature = tt.x
			checkErr(t, c.Validate(), "llm.temperature: "+tt.name+" is not a finite number; allowed range 0 to 2")
		})
	}
}

// TestRefusedValues runs values that used to pass through Load and Validate,
// from the file and from the environment, as an operator would set them.
func TestRefusedValues(t *testing.T) {
	secret := map[string]string{"WEALTHCOACH_AUTH_JWT_SECRET": strings.Repeat("s", MinSecretBytes)}
	withSecret := func(m map[string]string) map[string]string {
		for k, v := range secret {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr string
	}{
		{name: "frame of 4 GiB", yaml: "limits:\n  max_frame_bytes: 4294967296\n", wantErr: "limits.max_frame_bytes: 4294967296 is outside the allowed range 1 KiB to 16 MiB"},
		{name: "frame of 4 GiB from env", env: map[string]string{"WEALTHCOACH_LIMITS_MAX_FRAME_BYTES": "4294967296"}, wantErr: "limits.max_frame_bytes: 4294967296"},
		{name: "frame of 16 MiB and one byte", yaml: "limits:\n  max_frame_bytes: 16777217\n", wantErr: "limits.max_frame_bytes: 16777217"},
		{name: "frame under the first-frame limit", yaml: "limits:\n  max_frame_bytes: 4096\n", wantErr: "limits.max_auth_frame_bytes: 8192 exceeds limits.max_frame_bytes (4096)"},
		{name: "leeway of 100000h", yaml: "auth:\n  leeway: 100000h\n", wantErr: "auth.leeway: 100000h0m0s is outside the allowed range 0s to 5m"},
		{name: "auth timeout of 1ns", yaml: "auth:\n  timeout: 1ns\n", wantErr: "auth.timeout: 1ns is outside the allowed range 100ms to 5m"},
		{name: "pending bytes of 1", yaml: "limits:\n  max_pending_bytes: 1\n", wantErr: "limits.max_pending_bytes: 1 is outside the allowed range 64 KiB to 64 MiB"},
		{name: "pending under two answers", yaml: "llm:\n  max_answer_bytes: 1048576\n", wantErr: "limits.max_pending_bytes: 1048576 is less than twice llm.max_answer_bytes (2097152)"},
		{name: "temperature .nan", yaml: "llm:\n  temperature: .nan\n", wantErr: "llm.temperature: NaN is not a finite number"},
		{name: "temperature .inf", yaml: "llm:\n  temperature: .inf\n", wantErr: "llm.temperature: +Inf is not a finite number"},
		{name: "temperature NaN from env", env: map[string]string{"WEALTHCOACH_LLM_TEMPERATURE": "NaN"}, wantErr: "llm.temperature: NaN is not a finite number"},
		{name: "temperature -Inf from env", env: map[string]string{"WEALTHCOACH_LLM_TEMPERATURE": "-Inf"}, wantErr: "llm.temperature: -Inf is not a finite number"},
		{name: "temperature 2.1", yaml: "llm:\n  temperature: 2.1\n", wantErr: "llm.temperature: 2.1 is outside the allowed range 0 to 2"},
		{name: "user claim exp", yaml: "auth:\n  user_claim: exp\n", wantErr: `auth.user_claim: "exp" is a registered JWT claim`},
		{name: "answer of 1 MiB with room", yaml: "llm:\n  max_answer_bytes: 1048576\nlimits:\n  max_pending_bytes: 2097152\n"},
		{name: "pending of exactly two answers", yaml: "limits:\n  max_pending_bytes: 65536\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			c, _, err := Load(writeConfig(t, tt.yaml), true, envMap(withSecret(env)))
			if err != nil {
				t.Fatal(err)
			}
			checkErr(t, c.Validate(), tt.wantErr)
		})
	}
}

func TestUserClaim(t *testing.T) {
	tests := []struct {
		claim string
		ok    bool
	}{
		{"sub", true}, {"uid", true}, {"user_id", true}, {"https://example.com/uid", true},
		{"exp", false}, {"nbf", false}, {"iat", false}, {"iss", false}, {"aud", false}, {"jti", false},
		{" exp ", false}, {"", false},
	}
	for _, tt := range tests {
		t.Run(tt.claim, func(t *testing.T) {
			c := validBase()
			c.Auth.UserClaim = tt.claim
			want := ""
			if !tt.ok {
				want = "auth.user_claim: "
			}
			checkErr(t, c.Validate(), want)
		})
	}
}

// The store commands check the cache's ranges too, as before, and no other.
func TestValidateStoreBounds(t *testing.T) {
	c := Default()
	c.Cache.TTL = 0
	c.Limits.MaxFrameBytes = 1 << 40
	err := c.ValidateStore()
	checkErr(t, err, "cache.ttl: 0s is outside")
	if strings.Contains(err.Error(), "limits.") {
		t.Errorf("store commands checked the limits: %v", err)
	}
}

// TestDocumentedBounds keeps config.yaml and the README's key table in step
// with the table of ranges.
func TestDocumentedBounds(t *testing.T) {
	yamlText, err := os.ReadFile(repoConfig)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(repoReadme)
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	for _, b := range bounds {
		t.Run(b.key, func(t *testing.T) {
			want := "Range " + b.rangeText(leafOf(t, &c, b.key).Type())
			if block := yamlComment(string(yamlText), b.key); !strings.Contains(block, want) {
				t.Errorf("config.yaml's comment on %s does not say %q:\n%s", b.key, want, block)
			}
			if row := readmeRow(string(readme), b.key); !strings.Contains(row, want) {
				t.Errorf("README row of %s does not say %q: %s", b.key, want, row)
			}
		})
	}
}

// TestReadmeListsEveryKey keeps the README's key table complete.
func TestReadmeListsEveryKey(t *testing.T) {
	readme, err := os.ReadFile(repoReadme)
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	for _, l := range leaves(reflect.ValueOf(&c).Elem(), "") {
		if readmeRow(string(readme), l.key) == "" {
			t.Errorf("README's key table has no row for %s", l.key)
		}
	}
}

// yamlComment returns the comment lines right above key's line in
// config.yaml, found section by section, joined with spaces so that
// wrapped text reads whole.
func yamlComment(text, key string) string {
	end := 0
	for depth, name := range strings.Split(key, ".") {
		i := strings.Index(text[end:], "\n"+strings.Repeat("  ", depth)+name+":")
		if i < 0 {
			return ""
		}
		end += i + 1
	}
	lines := strings.Split(text[:end-1], "\n")
	var block []string
	for j := len(lines) - 1; j >= 0 && strings.HasPrefix(strings.TrimSpace(lines[j]), "#"); j-- {
		block = append([]string{strings.TrimPrefix(strings.TrimSpace(lines[j]), "# ")}, block...)
	}
	return strings.Join(block, " ")
}

func readmeRow(text, key string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, "| `"+key+"` |") {
			return line
		}
	}
	return ""
}
