package store

import (
	"net/url"
	"regexp"
	"strings"
)

// Connection strings carry passwords, and the parsers that read them quote
// them back in their errors (net/url quotes the whole URL). These helpers
// keep such errors fit for a log line.

const redactedMark = "xxxxx"

var (
	// urlPassword matches the password of a URL's user info, up to the last
	// '@' of the word, so a password holding an unescaped '@' goes whole.
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s"]*):\S*@`)
	// kvPassword matches password=value in a libpq key/value string.
	kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:\\.|[^'\\])*'?|\S*)`)
)

// redactText removes every secret, URL password and key/value password
// from s.
func redactText(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redactedMark)
		}
	}
	s = urlPassword.ReplaceAllString(s, "${1}:"+redactedMark+"@")
	return kvPassword.ReplaceAllString(s, "${1}"+redactedMark)
}

// redactedError is an error whose text held a secret. It keeps no chain:
// the wrapped error would print the secret to whoever unwraps it.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }

// redactError returns err unchanged when its text holds no secret, and a
// redacted copy otherwise.
func redactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := redactText(msg, secrets...)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean}
}

// passwordOf returns the password of a URL, or "" when it has none or is
// not a URL; patterns in redactText cover what this cannot parse.
func passwordOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}
