package postgres

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store"
)

const testSecret = "s3cret-pw"

// A server that is down is an error, promptly, and never "no such user":
// a login must be refused as "try again later", not as unknown.
func TestUnreachable(t *testing.T) {
	ctx := t.Context()
	dsn := fmt.Sprintf("postgres://wc:%s@127.0.0.1:%d/test?sslmode=disable", testSecret, testutil.FreePort(t))
	const bound = 2 * time.Second // generous: a refused connection is immediate

	start := time.Now()
	if p, err := Open(ctx, dsn); err == nil {
		p.Close()
		t.Fatal("Open succeeded against a closed port")
	} else {
		assertNoSecret(t, err)
	}
	if d := time.Since(start); d > bound {
		t.Errorf("Open took %v, want under %v", d, bound)
	}

	// A store whose server went away after it opened.
	p, err := newStore(dsn)
	if err != nil {
		t.Fatalf("newStore: %v", err)
	}
	defer p.Close()
	start = time.Now()
	_, err = p.LoadAccount(ctx, store.DemoUserID)
	if err == nil || errors.Is(err, store.ErrNotFound) {
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

func TestOpenKeepsPasswordOutOfErrors(t *testing.T) {
	port := testutil.FreePort(t)
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
			p, err := Open(t.Context(), tt.dsn)
			if err == nil {
				p.Close()
				t.Fatal("Open succeeded")
			}
			assertNoSecret(t, err)
		})
	}
}

func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testSecret) {
		t.Errorf("error reveals the password: %v", err)
	}
}
