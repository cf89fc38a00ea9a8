// Package redact keeps passwords out of error text. Connection strings
// carry passwords, and the parsers that read them quote them back in their
// errors (net/url quotes the whole URL), so every adapter passes such errors
// through Error before returning them. Its functions are pure and safe for
// concurrent use.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

const mark = "xxxxx"

var (
	// urlPassword matches the password of a URL's user info, up to the last
	// '@' of the word, so a password holding an unescaped '@' goes whole.
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s"]*):\S*@`)
	// kvPassword matches password=value in a libpq key/value string.
	kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:\\.|[^'\\])*'?|\S*)`)
)

// Text removes every secret, URL password and key/value password from s.
func Text(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, mark)
		}
	}
	s = urlPassword.ReplaceAllString(s, "${1}:"+mark+"@")
	return kvPassword.ReplaceAllString(s, "${1}"+mark)
}

// redactedError is an error whose text held a secret. It keeps no chain:
// the wrapped error would print the secret to whoever unwraps it.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }

// Error returns err unchanged when its text holds no secret, and a
// redacted copy otherwise.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := Text(msg, secrets...)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean}
}

// PasswordOf returns the password of a URL, or "" when it has none or is
// not a URL; the patterns in Text cover what this cannot parse.
func PasswordOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}
