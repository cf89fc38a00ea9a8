package store

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

const testSecret = "s3cret-pw"

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A server that is down is an error, promptly, and never "no such user":
// a login must be refused as "try again later", not as unknown.
func TestPostgresUnreachable(t *testing.T) {
	ctx := t.Context()
	dsn := fmt.Sprintf("postgres://wc:%s@127.0.0.1:%d/test?sslmode=disable", testSecret, closedPort(t))
	const bound = 2 * time.Second // generous: a refused connection is immediate

	start := time.Now()
	if p, err := OpenPostgres(ctx, dsn); err == nil {
		p.Close()
		t.Fatal("OpenPostgres succeeded against a closed port")
	} else {
		assertNoSecret(t, err)
	}
	if d := time.Since(start); d > bound {
		t.Errorf("OpenPostgres took %v, want under %v", d, bound)
	}

	// A store whose server went away after it opened.
	p, err := newPostgres(dsn)
	if err != nil {
		t.Fatalf("newPostgres: %v", err)
	}
	defer p.Close()
	start = time.Now()
	_, err = p.LoadAccount(ctx, DemoUserID)
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("LoadAccount err = %v, want a failure that is not ErrNotFound", err)
	}
	assertNoSecret(t, err)
	if err := p.Ping(ctx); err == nil {
		t.Error("Ping succeeded")
	}
	if err := p.Migrate(ctx); err == nil {
		t.Error("Migrate succeeded")
	}
	if d := time.Since(start); d > bound {
		t.Errorf("calls took %v, want under %v", d, bound)
	}
}

func TestOpenPostgresKeepsPasswordOutOfErrors(t *testing.T) {
	port := closedPort(t)
	tests := []struct{ name, dsn string }{
		{"bad port", "postgres://wc:" + testSecret + "@127.0.0.1:notaport/test"},
		{"unescaped at sign", "postgres://wc:" + testSecret + "@x@127.0.0.1:bad/test"},
		{"bad sslmode", "postgres://wc:" + testSecret + "@127.0.0.1/test?sslmode=bogus"},
		{"key=value refused", fmt.Sprintf("host=127.0.0.1 port=%d user=wc password=%s sslmode=disable", port, testSecret)},
		{"key=value quoted", "host=127.0.0.1 password='" + testSecret + " x' port"},
		{"key=value bad port", "host=127.0.0.1 password=" + testSecret + " port=notaport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := OpenPostgres(t.Context(), tt.dsn)
			if err == nil {
				p.Close()
				t.Fatal("OpenPostgres succeeded")
			}
			assertNoSecret(t, err)
		})
	}
}

func TestRedactText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`parse "postgres://u:pw@h:x/db": invalid port`, `parse "postgres://u:xxxxx@h:x/db": invalid port`},
		{`parse "redis://u:p@w@h/0"`, `parse "redis://u:xxxxx@h/0"`},
		{`no password in postgres://u@h:5432/db`, `no password in postgres://u@h:5432/db`},
		{`host=h password=pw user=u`, `host=h password=xxxxx user=u`},
		{`host=h password = 'p w\' x' user=u`, `host=h password = xxxxx user=u`},
		{`plain text`, `plain text`},
	}
	for _, tt := range tests {
		if got := redactText(tt.in); got != tt.want {
			t.Errorf("redactText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := redactText("it was hunter2 all along", "hunter2"); got != "it was xxxxx all along" {
		t.Errorf("redactText with a secret = %q", got)
	}
}

func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testSecret) {
		t.Errorf("error reveals the password: %v", err)
	}
}
