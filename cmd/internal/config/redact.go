package config

import (
	"net/url"
	"reflect"
	"regexp"
	"strings"
)

// redactedMark replaces a secret in the output of Config.Redacted.
const redactedMark = "[redacted]"

// Redacted returns a copy safe to log: keys named like secrets (jwt_secret,
// admin.token, api_key) are replaced by "[redacted]" when set, and passwords
// inside DSNs and URLs are masked, keeping the rest readable. Lists are
// copied, so the result shares no memory with c.
func (c Config) Redacted() Config {
	out := c
	for _, l := range leaves(reflect.ValueOf(&out).Elem(), "") {
		v := l.value
		switch {
		case v.Kind() == reflect.Slice && !v.IsNil():
			v.Set(reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, v.Len()), v))
			if v.Type().Elem().Kind() == reflect.Struct {
				redactRecords(v, l.key)
			}
		case v.Kind() != reflect.String || v.String() == "":
		case classify(l.key) == secret:
			v.SetString(redactedMark)
		case classify(l.key) == credential:
			v.SetString(redactCredential(v.String()))
		}
	}
	return out
}

// dsnPassword matches a password in a libpq key=value DSN.
var dsnPassword = regexp.MustCompile(`(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// redactCredential masks the password of a URL (user info and query
// parameters named like secrets) or of a key=value DSN. A URL that does not
// parse is hidden whole, as it cannot be told apart safely.
func redactCredential(s string) string {
	if !strings.Contains(s, "://") {
		return dsnPassword.ReplaceAllString(s, "${1}"+redactedMark)
	}
	u, err := url.Parse(s)
	if err != nil {
		return redactedMark
	}
	u.RawQuery = redactQuery(u.RawQuery)
	_, hasPassword := u.User.Password()
	if !hasPassword {
		return u.String()
	}
	user := url.User(u.User.Username()).String()
	u.User = nil
	head := u.Scheme + "://"
	rest, ok := strings.CutPrefix(u.String(), head)
	if !ok {
		return redactedMark
	}
	return head + user + ":" + redactedMark + "@" + rest
}

// redactQuery masks the values of query parameters named like secrets,
// leaving the raw text of the others untouched.
func redactQuery(raw string) string {
	if raw == "" {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, part := range parts {
		k, _, found := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if found && (err != nil || classify(strings.ToLower(name)) == secret) {
			parts[i] = k + "=" + redactedMark
		}
	}
	return strings.Join(parts, "&")
}

// redactRecords redacts the secrets of each record of a list (the api_key
// of every llm.fallbacks item), which v holds as its own copy.
func redactRecords(v reflect.Value, key string) {
	for i := range v.Len() {
		for _, l := range leaves(v.Index(i), key) {
			f := l.value
			switch {
			case f.Kind() != reflect.String || f.String() == "":
			case classify(l.key) == secret:
				f.SetString(redactedMark)
			case classify(l.key) == credential:
				f.SetString(redactCredential(f.String()))
			}
		}
	}
}
