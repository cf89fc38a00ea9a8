package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// perIPRefusedLine is the transport's log line for an upgrade refused by
// limits.max_unauthenticated_per_ip.
const perIPRefusedLine = "websocket upgrade refused: too many unauthenticated connections from one address"

// dialFrom opens a connection from the local address ip, with the
// X-Forwarded-For header xff when it is not empty, without authenticating.
// It returns the client, or nil and the HTTP status of a refused upgrade.
func (ts *testServer) dialFrom(ip, xff string) (*wsclient.Client, int) {
	ts.t.Helper()
	o := wsclient.Options{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Header: http.Header{}}
	if xff != "" {
		o.Header.Set("X-Forwarded-For", xff)
	}
	c, resp, err := wsclient.Dial(ts.ws, o)
	if err != nil {
		if resp == nil {
			ts.t.Fatalf("dial from %s: %v", ip, err)
		}
		return nil, resp.StatusCode
	}
	ts.t.Cleanup(func() { _ = c.CloseWithoutFrame() })
	return c, http.StatusSwitchingProtocols
}

// mustDialFrom is dialFrom for a connection that must be accepted.
func (ts *testServer) mustDialFrom(ip, xff string) *wsclient.Client {
	ts.t.Helper()
	c, code := ts.dialFrom(ip, xff)
	if c == nil {
		ts.t.Fatalf("upgrade from %s (X-Forwarded-For %q) refused with HTTP %d", ip, xff, code)
	}
	return c
}

// mustBeRefused fails unless the upgrade gets HTTP 429 and no WebSocket.
func (ts *testServer) mustBeRefused(ip, xff string) {
	ts.t.Helper()
	if c, code := ts.dialFrom(ip, xff); c != nil || code != http.StatusTooManyRequests {
		ts.t.Fatalf("upgrade from %s (X-Forwarded-For %q): HTTP %d, want 429", ip, xff, code)
	}
}

func (ts *testServer) perIPRefused() float64 {
	return ts.stats()["transport"].(map[string]any)["per_ip_refused"].(float64)
}

// TestUnauthenticatedPerAddressCap: one address may hold
// limits.max_unauthenticated_per_ip connections that have not
// authenticated; the next upgrade is refused with HTTP 429 before it
// becomes a WebSocket, and a slot comes back when a connection
// authenticates. Other addresses are not affected.
func TestUnauthenticatedPerAddressCap(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{
		"WEALTHCOACH_LOG_FORMAT":                        "json",
		"WEALTHCOACH_LIMITS_MAX_UNAUTHENTICATED_PER_IP": "5",
	}})
	ts.addUser("pat", nil)
	var five []*wsclient.Client
	for range 5 {
		five = append(five, ts.mustDialFrom("127.0.0.1", ""))
	}
	ts.mustBeRefused("127.0.0.1", "")
	ts.mustBeRefused("127.0.0.1", "")
	// Another address has its own count.
	for range 5 {
		ts.mustDialFrom("127.0.0.2", "")
	}

	// Authenticating gives the address's slot back.
	if err := five[0].Authenticate(token(t, "pat", nil)); err != nil {
		t.Fatal(err)
	}
	if f := next(t, five[0]); f.Type != "connected" {
		t.Fatalf("want connected, got %s", f.Raw)
	}
	ts.mustDialFrom("127.0.0.1", "")
	ts.mustBeRefused("127.0.0.1", "")

	// The sockets the cap refused never reached a session.
	if got := ts.perIPRefused(); got != 3 {
		t.Errorf("transport.per_ip_refused %v, want 3", got)
	}
	resp, err := http.Get(ts.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\nwealthcoach_per_ip_refused_total 3\n") {
		t.Errorf("/metrics lacks wealthcoach_per_ip_refused_total 3")
	}
	// Three refusals within the log interval: one line, naming the address.
	lines := logLines(t, ts, perIPRefusedLine)
	if len(lines) != 1 {
		t.Fatalf("%d refusal lines, want 1", len(lines))
	}
	if remote, _ := lines[0]["remote"].(string); !strings.HasPrefix(remote, "127.0.0.1:") {
		t.Errorf("refusal line names %q, want 127.0.0.1:port", remote)
	}
}

// TestUnauthenticatedPerAddressBehindProxy: behind a trusted proxy the
// client named by X-Forwarded-For is counted, not the proxy, so that one
// client cannot take the slots of everyone behind the load balancer; a
// peer outside server.trusted_proxies cannot pick its address with the
// header.
func TestUnauthenticatedPerAddressBehindProxy(t *testing.T) {
	t.Run("trusted proxy", func(t *testing.T) {
		ts := startServer(t, serverOpts{env: map[string]string{
			"WEALTHCOACH_LOG_FORMAT":                        "json",
			"WEALTHCOACH_LIMITS_MAX_UNAUTHENTICATED_PER_IP": "2",
			"WEALTHCOACH_SERVER_TRUSTED_PROXIES":            "127.0.0.0/8",
		}})
		ts.mustDialFrom("127.0.0.1", "198.51.100.7")
		ts.mustDialFrom("127.0.0.2", "198.51.100.7") // another node of the load balancer
		ts.mustBeRefused("127.0.0.1", "198.51.100.7")
		// The client's own entries left of the proxy's are not believed.
		ts.mustBeRefused("127.0.0.1", "203.0.113.9, 198.51.100.7")
		// Other clients behind the same proxy are unaffected, and so is
		// the proxy itself.
		ts.mustDialFrom("127.0.0.1", "198.51.100.8")
		ts.mustDialFrom("127.0.0.1", "")
		ts.mustDialFrom("127.0.0.1", "")
		ts.mustBeRefused("127.0.0.1", "")
		testutil.WaitFor(t, 5*time.Second, "the refusal's line", func() bool {
			return len(logLines(t, ts, perIPRefusedLine)) == 1
		})
		if remote := logLines(t, ts, perIPRefusedLine)[0]["remote"]; remote != "198.51.100.7" {
			t.Errorf("refusal line names %v, want the forwarded client 198.51.100.7", remote)
		}
	})
	t.Run("untrusted peer", func(t *testing.T) {
		ts := startServer(t, serverOpts{env: map[string]string{
			"WEALTHCOACH_LIMITS_MAX_UNAUTHENTICATED_PER_IP": "2",
			"WEALTHCOACH_SERVER_TRUSTED_PROXIES":            "127.0.0.1/32",
		}})
		// 127.0.0.2 is no proxy: a new X-Forwarded-For each time does not
		// make it a new client.
		ts.mustDialFrom("127.0.0.2", "198.51.100.1")
		ts.mustDialFrom("127.0.0.2", "198.51.100.2")
		ts.mustBeRefused("127.0.0.2", "198.51.100.3")
		// Nor can it spend the slots of the client it names.
		ts.mustDialFrom("127.0.0.1", "198.51.100.1")
		ts.mustDialFrom("127.0.0.1", "198.51.100.1")
	})
}

// TestTrustedProxiesMustParse: a list the server cannot read refuses to
// start instead of counting every client as the load balancer.
func TestTrustedProxiesMustParse(t *testing.T) {
	dir := t.TempDir()
	out := &syncBuffer{}
	env := map[string]string{
		"WEALTHCOACH_SERVER_LISTEN":          "127.0.0.1:0",
		"WEALTHCOACH_ADMIN_LISTEN":           "127.0.0.1:0",
		"WEALTHCOACH_STORE_DSN":              filepath.Join(dir, "test.db"),
		"WEALTHCOACH_AUTH_JWT_SECRET":        testSecret,
		"WEALTHCOACH_SERVER_TRUSTED_PROXIES": "10.0.0.0/8,lb.internal",
	}
	m := &Main{Stdin: strings.NewReader(""), Stdout: out, Stderr: out,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte("# all from the environment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Should the server start after all, it stops instead of hanging the test.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := m.Run(ctx, []string{"serve", "--config", cfgPath})
	if err == nil || !strings.Contains(err.Error(), "server.trusted_proxies") || !strings.Contains(err.Error(), "lb.internal") {
		t.Fatalf("serve with an invalid trusted proxy: %v, want an error naming server.trusted_proxies", err)
	}
}
