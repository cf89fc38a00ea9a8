package main

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// tlsServer is a server serving wss with a certificate the test can replace.
type tlsServer struct {
	*testServer
	wss               string // wss://127.0.0.1:port/ws/chat
	certFile, keyFile string
}

// startTLSServer serves wss with cert, polling the files every 50ms
// instead of the production 5s, so that a swap shows within the test.
func startTLSServer(t *testing.T, cert testutil.Cert) *tlsServer {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cert.Write(t, certFile, keyFile)
	ts := startServer(t, serverOpts{
		env: map[string]string{
			"WEALTHCOACH_SERVER_TLS_CERT_FILE": certFile,
			"WEALTHCOACH_SERVER_TLS_KEY_FILE":  keyFile,
		},
		hooks: hooks{tlsReload: 50 * time.Millisecond},
	})
	return &tlsServer{testServer: ts, wss: "wss://" + strings.TrimPrefix(ts.ws, "ws://"),
		certFile: certFile, keyFile: keyFile}
}

// dialTLS opens a wss connection trusting only the roots in client.
func (ts *tlsServer) dialTLS(client *tls.Config) (*wsclient.Client, error) {
	c, _, err := wsclient.Dial(ts.wss, wsclient.Options{TLS: client, Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	ts.t.Cleanup(func() { _ = c.CloseWithoutFrame() })
	return c, nil
}

// connectTLS opens a wss connection and authenticates as user.
func (ts *tlsServer) connectTLS(user string, client *tls.Config) *wsclient.Client {
	ts.t.Helper()
	c, err := ts.dialTLS(client)
	if err != nil {
		ts.t.Fatalf("dial %s: %v", ts.wss, err)
	}
	if err := c.Authenticate(token(ts.t, user, nil)); err != nil {
		ts.t.Fatal(err)
	}
	if f := next(ts.t, c); f.Type != "connected" || f.UserID != user {
		ts.t.Fatalf("want connected for %s, got %s", user, f.Raw)
	}
	return c
}

// pingPong checks that c still carries frames both ways.
func pingPong(t *testing.T, c *wsclient.Client) {
	t.Helper()
	mustSend(t, c, map[string]string{"type": "ping"})
	if f := next(t, c); f.Type != "pong" {
		t.Fatalf("want pong, got %s", f.Raw)
	}
}

// TestChatOverWSS: with a certificate configured the public listener is
// wss: a client authenticates and gets an answer, the log names the wss
// URL, and plain ws on the same port is no longer spoken.
func TestChatOverWSS(t *testing.T) {
	cert := testutil.SelfSignedCert(t, "coach-1")
	ts := startTLSServer(t, cert)
	ts.addUser("ann", nil)
	c := ts.connectTLS("ann", &tls.Config{RootCAs: cert.Pool})
	mustSend(t, c, map[string]string{"type": "message", "content": "What is an index fund?", "id": "q1"})
	frames := readAnswer(t, c)
	if last := frames[len(frames)-1]; last.FinishReason != "stop" || last.Content == "" {
		t.Fatalf("want a finished answer, got %s", last.Raw)
	}
	pingPong(t, c)
	if !strings.Contains(ts.logs.String(), ts.wss) {
		t.Errorf("the listening line does not name %s:\n%s", ts.wss, ts.logs.String())
	}
	if _, _, err := wsclient.Dial(ts.ws, wsclient.Options{Timeout: 2 * time.Second}); err == nil {
		t.Error("a plain ws client was upgraded on the TLS listener")
	}
}

// TestWSSRefusesOldTLS: TLS 1.2 is the minimum; a client offering only
// TLS 1.0 or 1.1 is refused in the handshake.
func TestWSSRefusesOldTLS(t *testing.T) {
	cert := testutil.SelfSignedCert(t, "coach-1")
	ts := startTLSServer(t, cert)
	ts.addUser("ann", nil)
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS 1.0", tls.VersionTLS10}, {"TLS 1.1", tls.VersionTLS11}} {
		t.Run(v.name, func(t *testing.T) {
			//nolint:gosec // offering an old version is the point
			_, err := ts.dialTLS(&tls.Config{RootCAs: cert.Pool, MinVersion: v.version, MaxVersion: v.version})
			if err == nil || !strings.Contains(err.Error(), "protocol version") {
				t.Fatalf("want the handshake refused for its version, got %v", err)
			}
		})
	}
	pingPong(t, ts.connectTLS("ann", &tls.Config{RootCAs: cert.Pool, MaxVersion: tls.VersionTLS12}))
}

// TestWSSCertificateSwap: replacing the certificate files reaches new
// connections within 10s, without a restart, while a session opened
// before keeps working.
func TestWSSCertificateSwap(t *testing.T) {
	first, second := testutil.SelfSignedCert(t, "coach-1"), testutil.SelfSignedCert(t, "coach-2")
	ts := startTLSServer(t, first)
	ts.addUser("ann", nil)
	ts.addUser("bob", nil)
	old := ts.connectTLS("ann", &tls.Config{RootCAs: first.Pool})

	second.Write(t, ts.certFile, ts.keyFile)
	// A client trusting only the new certificate gets through once the
	// server serves it.
	trustNew := &tls.Config{RootCAs: second.Pool}
	testutil.WaitFor(t, 10*time.Second, "a new connection to be shown the new certificate", func() bool {
		c, err := ts.dialTLS(trustNew)
		if err == nil {
			_ = c.CloseWithoutFrame()
		}
		return err == nil
	})
	pingPong(t, ts.connectTLS("bob", trustNew))
	if _, err := ts.dialTLS(&tls.Config{RootCAs: first.Pool}); err == nil {
		t.Error("a new connection was still shown the replaced certificate")
	}
	// The session from before the swap goes on, under its old handshake.
	pingPong(t, old)
	mustSend(t, old, map[string]string{"type": "message", "content": "Still there?", "id": "q2"})
	readAnswer(t, old)
}

// TestServeRefusesHalfATLSConfiguration: a certificate without its key, a
// key without its certificate, or a pair that does not load stops the
// server before it listens, naming the key to fix.
func TestServeRefusesHalfATLSConfiguration(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	testutil.SelfSignedCert(t, "coach-1").Write(t, certFile, keyFile)
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cert, key, want string
	}{
		{"certificate without key", certFile, "", "server.tls_key_file: is required when server.tls_cert_file is set"},
		{"key without certificate", "", keyFile, "server.tls_cert_file: is required when server.tls_key_file is set"},
		{"certificate that does not load", junk, keyFile, "server.tls_cert_file: load tls certificate " + junk},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"WEALTHCOACH_SERVER_LISTEN":        "127.0.0.1:0",
				"WEALTHCOACH_ADMIN_LISTEN":         "127.0.0.1:0",
				"WEALTHCOACH_AUTH_JWT_SECRET":      testSecret,
				"WEALTHCOACH_STORE_DSN":            filepath.Join(t.TempDir(), "test.db"),
				"WEALTHCOACH_SERVER_TLS_CERT_FILE": tc.cert,
				"WEALTHCOACH_SERVER_TLS_KEY_FILE":  tc.key,
			}
			cfgPath := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfgPath, []byte("# all from the environment\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			logs := &syncBuffer{}
			m := &Main{Stdin: strings.NewReader(""), Stdout: logs, Stderr: logs,
				Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok && v != "" }}
			m.hooks.ready = func(string, string) { t.Error("the server started listening") }
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := m.Run(ctx, []string{"serve", "--config", cfgPath})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v\n%s", tc.want, err, logs.String())
			}
		})
	}
}
