package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// applyEnv overrides c from the environment: first the conventional
// variables other tools set (OPENAI_API_KEY, DATABASE_URL, REDIS_URL), then
// WEALTHCOACH_* for every key, so the specific variables win. An empty
// variable counts as unset, as deployment templates often export empty
// placeholders.
func applyEnv(c *Config, env func(string) (string, bool)) error {
	lookup := func(name string) (string, bool) {
		v, ok := env(name)
		return v, ok && v != ""
	}
	if v, ok := lookup("OPENAI_API_KEY"); ok {
		c.LLM.APIKey = v
	}
	if v, ok := lookup("DATABASE_URL"); ok {
		c.Store.DSN = v
		c.Store.Driver = "postgres"
	}
	if v, ok := lookup("REDIS_URL"); ok {
		c.Cache.URL = v
		c.Cache.Driver = "redis"
	}
	return overrideFromEnv(reflect.ValueOf(c).Elem(), lookup)
}

// overrideFromEnv sets every key of the struct v whose WEALTHCOACH_*
// variable is present, and reports every malformed variable at once.
func overrideFromEnv(v reflect.Value, lookup func(string) (string, bool)) error {
	var errs []error
	for _, l := range leaves(v, "") {
		name := EnvVar(l.key)
		raw, ok := lookup(name)
		if !ok {
			continue
		}
		if err := setFromString(l.value, raw); err != nil {
			errs = append(errs, envError(name, l.key, raw, err))
		}
	}
	return errors.Join(errs...)
}

// envError names the variable and, unless the key may hold a secret, the
// offending value.
func envError(name, key, raw string, err error) error {
	if classify(key) != public {
		return fmt.Errorf("env %s: %w", name, err)
	}
	return fmt.Errorf("env %s: %q is %w", name, raw, err)
}

// setFromString parses raw into f by f's type: lists are comma-separated
// (blank items dropped), durations use Go syntax ("30s"), bools accept what
// strconv.ParseBool does. Its errors never contain raw.
func setFromString(f reflect.Value, raw string) error {
	raw = strings.TrimSpace(raw)
	if f.Type() == durationType {
		d, err := parseDuration(raw)
		if err != nil {
			return invalid("duration")
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return invalid("bool")
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, f.Type().Bits())
		if err != nil {
			return invalid("integer")
		}
		f.SetInt(n)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(raw, f.Type().Bits())
		if err != nil {
			return invalid("number")
		}
		f.SetFloat(x)
	case reflect.Slice:
		if f.Type().Elem().Kind() == reflect.Struct {
			// A list of records (llm.fallbacks) is JSON: commas cannot
			// separate it. The decoder's error is dropped, as it may quote
			// a secret.
			p := reflect.New(f.Type())
			dec := json.NewDecoder(strings.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(p.Interface()); err != nil {
				return invalid("JSON list")
			}
			f.Set(p.Elem())
			return nil
		}
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", f.Type())
		}
		f.Set(reflect.ValueOf(splitList(raw)))
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// parseDuration is time.ParseDuration that also takes a bare "0", which
// needs no unit.
func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

func splitList(raw string) []string {
	items := []string{}
	for item := range strings.SplitSeq(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// invalid reports a value that does not parse as kind. It never quotes the
// value, which may be a secret.
func invalid(kind string) error {
	return fmt.Errorf("not a valid %s", kind)
}

// OtherEnvVars are the variables in the WEALTHCOACH_ namespace that are not
// configuration keys. Load accepts them without reading them; any other
// WEALTHCOACH_* variable that names no key is an error. This is the one
// list of them.
var OtherEnvVars = []string{
	// Read by the tests: when set to 1, a missing PostgreSQL or Redis
	// fails the tests that need it instead of skipping them. CI sets it.
	"WEALTHCOACH_REQUIRE_SERVICES",
}

// checkEnvNames refuses every WEALTHCOACH_* variable in environ (as
// os.Environ lists it) that is neither a key's nor in OtherEnvVars, naming
// the closest known variable when one is near. An empty one is let pass,
// as an empty variable counts as unset. Values are never quoted.
func checkEnvNames(environ []string) error {
	known := knownEnvVars()
	var unknown []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) && value != "" && !slices.Contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	var errs []error
	for _, name := range slices.Compact(unknown) {
		msg := "env " + name + ": unknown variable, no configuration key has this name"
		if near := closest(name, known); near != "" {
			msg += " (did you mean " + near + "?)"
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

// knownEnvVars lists the variable of every key, then OtherEnvVars.
func knownEnvVars() []string {
	var c Config
	var names []string
	for _, l := range leaves(reflect.ValueOf(&c).Elem(), "") {
		names = append(names, EnvVar(l.key))
	}
	return append(names, OtherEnvVars...)
}

// closest returns the name in known nearest to name by edit distance, or ""
// when none is near enough to be a plausible typo of it.
func closest(name string, known []string) string {
	best, bestDist := "", 0
	for _, k := range known {
		d := editDistance(strings.TrimPrefix(name, envPrefix), strings.TrimPrefix(k, envPrefix))
		if best == "" || d < bestDist {
			best, bestDist = k, d
		}
	}
	if bestDist > max(2, len(name)/8) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (variable names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
