package transport

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
)

// lockedBuffer collects log output written from the watcher goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func certPaths(t *testing.T) (certFile, keyFile string) {
	dir := t.TempDir()
	return filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
}

// serveTLS accepts TLS connections with cfg until the test ends, completing
// each handshake so that the client sees the outcome.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	return ln.Addr().String()
}

// servedSubject returns the common name of the certificate a new
// connection is shown, or the handshake error.
func servedSubject(addr string, client *tls.Config) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, client)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// TestCertReloaderPicksUpReplacedFiles: a new connection gets the new
// certificate once the files are replaced, without a restart.
func TestCertReloaderPicksUpReplacedFiles(t *testing.T) {
	certFile, keyFile := certPaths(t)
	testutil.SelfSignedCert(t, "first").Write(t, certFile, keyFile)
	r, err := NewCertReloader(certFile, keyFile, 20*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	addr := serveTLS(t, r.TLSConfig())
	client := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test reads the certificate served
	if got, err := servedSubject(addr, client); err != nil || got != "first" {
		t.Fatalf("before the swap: served %q, %v; want first", got, err)
	}
	testutil.SelfSignedCert(t, "second").Write(t, certFile, keyFile)
	testutil.WaitFor(t, 5*time.Second, "the new certificate to be served", func() bool {
		got, err := servedSubject(addr, client)
		return err == nil && got == "second"
	})
}

// TestCertReloaderKeepsCertificateOnFailedReload: files that do not load
// leave the current certificate in place, warn once per change, and the
// next good pair is taken.
func TestCertReloaderKeepsCertificateOnFailedReload(t *testing.T) {
	certFile, keyFile := certPaths(t)
	first := testutil.SelfSignedCert(t, "first")
	first.Write(t, certFile, keyFile)
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	// The watcher never ticks; the test calls check itself, so that
	// "once" is counted over a known number of polls.
	r, err := NewCertReloader(certFile, keyFile, time.Hour, log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	served := func() string {
		c, _ := r.GetCertificate(nil)
		return c.Leaf.Subject.CommonName
	}

	// A certificate whose key has not landed yet does not match the key.
	second := testutil.SelfSignedCert(t, "second")
	testutil.WriteFileAtomic(t, certFile, second.CertPEM)
	for range 3 {
		r.check()
	}
	if got := served(); got != "first" {
		t.Fatalf("after a failed reload served %q, want first", got)
	}
	if n := strings.Count(logs.String(), "certificate reload failed"); n != 1 {
		t.Fatalf("warned %d times over three polls of one bad change, want 1:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), string(second.KeyPEM)) || strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Fatalf("the log shows key material:\n%s", logs)
	}

	testutil.WriteFileAtomic(t, keyFile, second.KeyPEM)
	r.check()
	if got := served(); got != "second" {
		t.Fatalf("after the key landed served %q, want second", got)
	}
}

// TestCertReloaderRefusesBadStart: without a loadable pair there is no
// reloader, so a server cannot start serving TLS without a certificate.
func TestCertReloaderRefusesBadStart(t *testing.T) {
	certFile, keyFile := certPaths(t)
	a, b := testutil.SelfSignedCert(t, "a"), testutil.SelfSignedCert(t, "b")
	tests := []struct {
		name  string
		write func()
	}{
		{"missing files", func() {}},
		{"not pem", func() {
			testutil.WriteFileAtomic(t, certFile, []byte("not a certificate"))
			testutil.WriteFileAtomic(t, keyFile, a.KeyPEM)
		}},
		{"key of another certificate", func() {
			testutil.WriteFileAtomic(t, certFile, a.CertPEM)
			testutil.WriteFileAtomic(t, keyFile, b.KeyPEM)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.write()
			r, err := NewCertReloader(certFile, keyFile, time.Hour, nil)
			if err == nil {
				r.Close()
				t.Fatal("NewCertReloader accepted a pair that does not load")
			}
			if !strings.Contains(err.Error(), certFile) {
				t.Errorf("error %q does not name the certificate file", err)
			}
		})
	}
}

// TestCertReloaderTLSVersions: TLS 1.2 and 1.3 are served, 1.0 and 1.1
// refused.
func TestCertReloaderTLSVersions(t *testing.T) {
	certFile, keyFile := certPaths(t)
	cert := testutil.SelfSignedCert(t, "v")
	cert.Write(t, certFile, keyFile)
	r, err := NewCertReloader(certFile, keyFile, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	addr := serveTLS(t, r.TLSConfig())
	tests := []struct {
		name    string
		version uint16
		ok      bool
	}{
		{"TLS 1.0", tls.VersionTLS10, false},
		{"TLS 1.1", tls.VersionTLS11, false},
		{"TLS 1.2", tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			//nolint:gosec // offering old versions is the point
			client := &tls.Config{RootCAs: cert.Pool, MinVersion: tc.version, MaxVersion: tc.version}
			_, err := servedSubject(addr, client)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("handshake failed: %v", err)
			case !tc.ok && err == nil:
				t.Fatal("handshake succeeded, want it refused")
			case !tc.ok && !strings.Contains(err.Error(), "protocol version"):
				t.Fatalf("refused for another reason: %v", err)
			}
		})
	}
}

// TestCertReloaderClose: Close stops the watcher, and twice is harmless.
func TestCertReloaderClose(t *testing.T) {
	certFile, keyFile := certPaths(t)
	testutil.SelfSignedCert(t, "c").Write(t, certFile, keyFile)
	r, err := NewCertReloader(certFile, keyFile, time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	r.Close()
	select {
	case <-r.done:
	default:
		t.Fatal("watcher still running after Close")
	}
}
