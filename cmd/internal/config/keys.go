package config

import (
	"reflect"
	"strings"
	"time"
)

// envPrefix starts the environment variable of every key.
const envPrefix = "WEALTHCOACH_"

var durationType = reflect.TypeFor[time.Duration]()

// EnvVar returns the environment variable that overrides key, e.g.
// "llm.rate_limit.per_minute" -> "WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE".
func EnvVar(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// leaf is one settable key of a configuration struct.
type leaf struct {
	key   string        // dotted yaml path, e.g. "auth.jwt_secret"
	value reflect.Value // addressable field
}

// leaves lists every scalar or list key under v (a struct value), depth
// first in declaration order, so that new fields are found without
// registering them anywhere.
func leaves(v reflect.Value, prefix string) []leaf {
	var out []leaf
	t := v.Type()
	for i := range t.NumField() {
		name := yamlName(t.Field(i))
		if name == "" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			out = append(out, leaves(f, key)...)
			continue
		}
		out = append(out, leaf{key: key, value: f})
	}
	return out
}

// yamlName is the key a struct field has in YAML, or "" when it has none.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// fieldByYAML finds the field of struct type t whose yaml key is name.
func fieldByYAML(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// secretness says how much of a key's value may be shown.
type secretness int

const (
	public     secretness = iota
	secret                // never shown
	credential            // a DSN or URL that may embed a password
)

// classify decides from its name whether a key holds a secret, so that new
// keys named like one are hidden without being listed. Counts such as
// llm.max_tokens are not secrets.
func classify(key string) secretness {
	last := key[strings.LastIndex(key, ".")+1:]
	switch {
	case last == "fallbacks": // a list of providers, api_keys included
		return secret
	case strings.Contains(last, "secret"), strings.Contains(last, "token") && !strings.Contains(last, "tokens"),
		strings.Contains(last, "api_key"), strings.Contains(last, "password"):
		return secret
	case strings.Contains(last, "dsn"), strings.Contains(last, "url"):
		return credential
	default:
		return public
	}
}
