package transport

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCertReloadInterval is how often a CertReloader looks at its files.
// Well inside the 10 s within which new connections must see a changed
// certificate, and cheap: two small files read and hashed.
const DefaultCertReloadInterval = 5 * time.Second

// CertReloader serves the public listener's TLS certificate and picks up a
// replaced certificate without a restart. A goroutine reads the two files
// every interval; when their contents changed it loads the pair and swaps
// it in atomically. The handshake of every new connection reads the
// current certificate; connections already open keep the one they were
// made with. A pair that fails to load leaves the previous certificate in
// place.
type CertReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]
	stamp             fileStamp // the files as last loaded or tried; the watcher only
	stop              chan struct{}
	done              chan struct{}
	closeOnce         sync.Once
}

// NewCertReloader loads the certificate and key (PEM) and starts watching
// them every interval (DefaultCertReloadInterval when zero or negative).
// It fails when the pair cannot be loaded, so that a server never starts
// without a certificate. Close stops the watcher.
func NewCertReloader(certFile, keyFile string, interval time.Duration, log *slog.Logger) (*CertReloader, error) {
	if interval <= 0 {
		interval = DefaultCertReloadInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &CertReloader{certFile: certFile, keyFile: keyFile, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
	certPEM, keyPEM, err := r.read()
	if err != nil {
		return nil, err
	}
	cert, err := r.parse(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	r.stamp = stampOf(certPEM, keyPEM)
	r.cert.Store(cert)
	go r.watch(interval)
	return r, nil
}

// TLSConfig returns a server configuration serving the current certificate:
// TLS 1.2 at least, Go's default cipher suites, and HTTP/1.1 only, since
// the WebSocket upgrade needs a connection the handler can take over.
func (r *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}

// GetCertificate returns the certificate loaded last; it implements
// tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Close stops the watcher and waits for it. Safe to call more than once.
func (r *CertReloader) Close() {
	r.closeOnce.Do(func() { close(r.stop) })
	<-r.done
}

func (r *CertReloader) watch(interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.check()
		}
	}
}

// check reloads the pair if the files changed since the last attempt. A
// failed attempt is logged once and not retried until the files change
// again: a certificate written before its key fails until the key lands,
// and then loads. Contents are compared rather than modification times,
// which the kernel keeps at a clock tick's precision: a file replaced
// twice within one tick by one of the same size would go unnoticed.
func (r *CertReloader) check() {
	certPEM, keyPEM, err := r.read()
	st := stampOf(certPEM, keyPEM)
	if st == r.stamp {
		return
	}
	r.stamp = st
	var cert *tls.Certificate
	if err == nil {
		cert, err = r.parse(certPEM, keyPEM)
	}
	if err != nil {
		r.log.Warn("tls: certificate reload failed, keeping the current certificate",
			slog.String("cert_file", r.certFile), slog.String("error", err.Error()))
		return
	}
	r.cert.Store(cert)
	attrs := []any{slog.String("cert_file", r.certFile)}
	if cert.Leaf != nil { // parsed by X509KeyPair
		attrs = append(attrs, slog.String("subject", cert.Leaf.Subject.String()),
			slog.Time("not_after", cert.Leaf.NotAfter))
	}
	r.log.Info("tls: certificate reloaded", attrs...)
}

// fileStamp identifies the contents of the two files without keeping the
// key's bytes around.
type fileStamp struct{ cert, key [sha256.Size]byte }

func stampOf(certPEM, keyPEM []byte) fileStamp {
	return fileStamp{cert: sha256.Sum256(certPEM), key: sha256.Sum256(keyPEM)}
}

// read returns the files' contents; one that cannot be read is nil, and
// the error says which.
func (r *CertReloader) read() (certPEM, keyPEM []byte, err error) {
	certPEM, certErr := os.ReadFile(r.certFile)
	keyPEM, keyErr := os.ReadFile(r.keyFile)
	if err := errors.Join(certErr, keyErr); err != nil {
		return certPEM, keyPEM, fmt.Errorf("read tls certificate and key: %w", err)
	}
	return certPEM, keyPEM, nil
}

// parse checks the pair. The error names the files, never the key.
func (r *CertReloader) parse(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load tls certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	return &cert, nil
}
