package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// shippedNginxConf is the load-balancer configuration the README gives;
// the tests run this very file, with their own ports and certificate.
const shippedNginxConf = "../../deploy/nginx/wealthcoach.conf"

// nginxMain wraps the shipped file, which belongs in an http block, in a
// main configuration that keeps everything under the test's directory:
// nginx's compiled-in pid, log and temp paths are under /var.
const nginxMain = `worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
# Upgraded connections would otherwise hold a stopping worker open.
worker_shutdown_timeout 5s;
events { worker_connections 256; }
http {
    access_log {{dir}}/access.log;
    client_body_temp_path {{dir}}/client_body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    include {{dir}}/wealthcoach.conf;
}
`

// nginxRoots holds the certificate pool of each running nginx, by its
// wss URL, for dialNginx.
var nginxRoots sync.Map // string -> *x509.CertPool

// nginxEdits are the lines of the shipped file a test replaces. Each must
// match exactly as many times as given, so that a change to the file that
// the tests would silently stop exercising fails them instead.
var nginxEdits = []struct {
	what string
	re   *regexp.Regexp
	n    int
}{
	{"upstream servers", regexp.MustCompile(`(?m)^[ \t]*server [0-9.]+:[0-9]+;\n`), -1},
	{"listen", regexp.MustCompile(`(?m)^([ \t]*)listen 443 ssl;$`), 1},
	{"ssl_certificate", regexp.MustCompile(`(?m)^([ \t]*)ssl_certificate [^;]+;$`), 1},
	{"ssl_certificate_key", regexp.MustCompile(`(?m)^([ \t]*)ssl_certificate_key [^;]+;$`), 1},
}

// renderNginxConf returns the shipped configuration with its upstream
// servers, listen address and certificate paths replaced.
func renderNginxConf(t *testing.T, upstreams []string, port int, certFile, keyFile string) string {
	t.Helper()
	b, err := os.ReadFile(shippedNginxConf)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "    server %s;\n", u)
	}
	repl := []string{servers.String(), "${1}listen 127.0.0.1:" + strconv.Itoa(port) + " ssl;",
		"${1}ssl_certificate " + certFile + ";", "${1}ssl_certificate_key " + keyFile + ";"}
	for i, e := range nginxEdits {
		found := len(e.re.FindAllStringIndex(conf, -1))
		if found == 0 || (e.n > 0 && found != e.n) {
			t.Fatalf("%s: %d %s lines, want %s: keep the lines the tests replace in their shape",
				shippedNginxConf, found, e.what, map[bool]string{true: "1", false: "some"}[e.n > 0])
		}
		if e.n < 0 {
			// All the upstream servers become the test's, written once
			// where the first one was.
			first := true
			conf = e.re.ReplaceAllStringFunc(conf, func(string) string {
				if first {
					first = false
					return repl[i]
				}
				return ""
			})
			continue
		}
		conf = e.re.ReplaceAllString(conf, repl[i])
	}
	return conf
}

// nginxBinary finds nginx, which Debian installs in /usr/sbin, off some
// users' PATH.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if bin, err := exec.LookPath("nginx"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	storetest.Unavailable(t, "nginx is not installed (Debian: apt-get install --no-install-recommends nginx-light; .ci/services.sh does it)")
	return ""
}

// startNginx runs nginx with the shipped configuration in front of
// upstreams (host:port of each node's public listener), terminating TLS
// with a fresh test certificate on a free loopback port, and stops it when
// the test ends. It returns the wss URL of /ws/chat through it; dialNginx
// connects to it trusting that certificate.
func startNginx(t *testing.T, upstreams []string) (wssURL string) {
	t.Helper()
	bin := nginxBinary(t)
	dir := t.TempDir()
	cert := testutil.SelfSignedCert(t, "nginx")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert.Write(t, certFile, keyFile)
	port := testutil.FreePort(t)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("wealthcoach.conf", renderNginxConf(t, upstreams, port, certFile, keyFile))
	write("nginx.conf", strings.ReplaceAll(nginxMain, "{{dir}}", dir))

	var out bytes.Buffer
	// -e: the error log before the configuration is read, also under dir.
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"),
		"-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	errorLog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return string(b)
	}
	t.Cleanup(func() {
		// SIGQUIT is nginx's graceful stop; the test's sockets are closed
		// by now, and worker_shutdown_timeout bounds any left over.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("nginx did not stop on SIGQUIT within 10s")
		}
		if t.Failed() {
			t.Logf("nginx error log:\n%s", errorLog())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	testutil.WaitFor(t, 10*time.Second, "nginx to accept on "+addr, func() bool {
		select {
		case <-exited:
			t.Fatalf("nginx exited: %s\n%s", out.String(), errorLog())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	wssURL = "wss://" + addr + "/ws/chat"
	nginxRoots.Store(wssURL, cert.Pool)
	t.Cleanup(func() { nginxRoots.Delete(wssURL) })
	return wssURL
}

// dialNginx opens a connection through the nginx at wssURL, verifying its
// certificate, from the local address from ("" for any), with the
// client's own X-Forwarded-For header xff when not empty, without
// authenticating. It returns the client, or nil and the HTTP status of a
// refused upgrade.
func dialNginx(t *testing.T, wssURL, from, xff string) (*wsclient.Client, int) {
	t.Helper()
	pool, ok := nginxRoots.Load(wssURL)
	if !ok {
		t.Fatalf("%s is no nginx started by startNginx", wssURL)
	}
	o := wsclient.Options{Header: http.Header{},
		TLS: &tls.Config{RootCAs: pool.(*x509.CertPool), MinVersion: tls.VersionTLS12}}
	if from != "" {
		o.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	if xff != "" {
		o.Header.Set("X-Forwarded-For", xff)
	}
	c, resp, err := wsclient.Dial(wssURL, o)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial %s from %q: %v", wssURL, from, err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { _ = c.CloseWithoutFrame() })
	return c, http.StatusSwitchingProtocols
}

// startNodes runs n servers on one PostgreSQL database, one Redis and one
// key prefix (fleetShared), each with env. They are a fleet only if env
// says so (WEALTHCOACH_CLUSTER_ENABLED and the other cluster settings).
func startNodes(t *testing.T, n int, env map[string]string) []*testServer {
	t.Helper()
	first := startServer(t, serverOpts{backend: realServices, env: env})
	nodes := []*testServer{first}
	for i := 1; i < n; i++ {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for _, k := range fleetShared {
			e[k] = first.env[k]
		}
		nodes = append(nodes, startServer(t, serverOpts{backend: realServices, env: e}))
	}
	return nodes
}

// chatAddrs is the host:port of each node's public listener, the
// upstreams for startNginx.
func chatAddrs(nodes []*testServer) []string {
	var addrs []string
	for _, ts := range nodes {
		addrs = append(addrs, strings.TrimSuffix(strings.TrimPrefix(ts.ws, "ws://"), "/ws/chat"))
	}
	return addrs
}

// nodesBehindNginx runs n nodes sharing one store (startNodes, each with
// env) behind the shipped nginx configuration, and returns them with the
// wss URL through nginx. A fleet test through the load balancer passes the
// cluster settings in env.
func nodesBehindNginx(t *testing.T, n int, env map[string]string) ([]*testServer, string) {
	t.Helper()
	nginxBinary(t) // skip before starting nodes for nothing
	nodes := startNodes(t, n, env)
	return nodes, startNginx(t, chatAddrs(nodes))
}

// connectNginx authenticates as user through nginx.
func connectNginx(t *testing.T, wssURL, user string) *wsclient.Client {
	t.Helper()
	c, code := dialNginx(t, wssURL, "", "")
	if c == nil {
		t.Fatalf("upgrade through nginx refused with HTTP %d", code)
	}
	if err := c.Authenticate(token(t, user, nil)); err != nil {
		t.Fatal(err)
	}
	if f := next(t, c); f.Type != "connected" || f.UserID != user {
		t.Fatalf("want connected for %s through nginx, got %s", user, f.Raw)
	}
	return c
}

// liveSessions is how many authenticated sessions a node holds.
func (ts *testServer) liveSessions() float64 {
	s := ts.stats()["sessions"].(map[string]any)
	return s["authenticated"].(float64) + s["streaming"].(float64)
}

// TestNginxSpreadsWSSOverNodes: clients reach two nodes over wss through
// nginx, authenticate and chat as they would on one node, and nginx
// spreads their sessions over both.
func TestNginxSpreadsWSSOverNodes(t *testing.T) {
	nodes, wss := nodesBehindNginx(t, 2, nil)
	const clients = 6
	var open []*wsclient.Client
	for i := range clients {
		user := fmt.Sprintf("lb%d", i)
		nodes[0].addUser(user, nil)
		c := connectNginx(t, wss, user)
		open = append(open, c)
		// A question of its own each, so that every answer comes from
		// the model and streams through nginx.
		frames := readAnswerTo(t, c, fmt.Sprintf("How should client %d start saving?", i))
		last := frames[len(frames)-1]
		if last.FinishReason != "stop" || last.Cached || last.Content == "" || len(frames) < 2 {
			t.Fatalf("client %d: answer of %d frames ending %s, want a streamed fresh answer", i, len(frames), last.Raw)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "the sessions in the nodes' /stats", func() bool {
		a, b := nodes[0].liveSessions(), nodes[1].liveSessions()
		return a+b == clients
	})
	a, b := nodes[0].liveSessions(), nodes[1].liveSessions()
	if a == 0 || b == 0 {
		t.Fatalf("sessions %v and %v: nginx sent every client to one node", a, b)
	}
	t.Logf("sessions per node through nginx: %v and %v", a, b)
	// Every session still answers after the others joined.
	for _, c := range open {
		mustSend(t, c, map[string]string{"type": "ping"})
		if f := next(t, c); f.Type != "pong" {
			t.Fatalf("want pong, got %s", f.Raw)
		}
	}
}

// readAnswerTo asks q and reads the whole answer, checking that each frame
// extends the text before it.
func readAnswerTo(t *testing.T, c *wsclient.Client, q string) []*wsclient.Frame {
	t.Helper()
	if err := c.Message(q, ""); err != nil {
		t.Fatal(err)
	}
	frames := readAnswer(t, c)
	var text string
	for i, f := range frames {
		if f.Content != text+f.Delta {
			t.Fatalf("frame %d: content %q is not %q plus delta %q", i, f.Content, text, f.Delta)
		}
		text = f.Content
	}
	return frames
}

// TestNginxForwardedForReachesPerAddressLimit: behind nginx a node counts
// the client nginx saw against limits.max_unauthenticated_per_ip, when
// server.trusted_proxies names nginx, and a client's own X-Forwarded-For
// does not change that; without the setting every client behind nginx
// shares nginx's count.
//
// On loopback nginx reaches the node from 127.0.0.1, the address trusted
// here, so the clients dial from 127.0.0.2 and 127.0.0.3: a client on a
// trusted address is taken for a proxy, and its header believed.
func TestNginxForwardedForReachesPerAddressLimit(t *testing.T) {
	env := map[string]string{
		"WEALTHCOACH_LOG_FORMAT":                        "json",
		"WEALTHCOACH_LIMITS_MAX_UNAUTHENTICATED_PER_IP": "2",
	}
	mustDial := func(t *testing.T, wss, from, xff string) {
		t.Helper()
		if c, code := dialNginx(t, wss, from, xff); c == nil {
			t.Fatalf("upgrade from %s (X-Forwarded-For %q) through nginx: HTTP %d, want 101", from, xff, code)
		}
	}
	mustRefuse := func(t *testing.T, wss, from, xff string) {
		t.Helper()
		if c, code := dialNginx(t, wss, from, xff); c != nil || code != http.StatusTooManyRequests {
			t.Fatalf("upgrade from %s (X-Forwarded-For %q) through nginx: HTTP %d, want 429", from, xff, code)
		}
	}
	// refusedRemote is the address the node's refusal line names.
	refusedRemote := func(t *testing.T, ts *testServer) string {
		t.Helper()
		testutil.WaitFor(t, 5*time.Second, "the refusal's log line", func() bool {
			return len(logLines(t, ts, perIPRefusedLine)) > 0
		})
		remote, _ := logLines(t, ts, perIPRefusedLine)[0]["remote"].(string)
		return remote
	}

	t.Run("trusted proxy", func(t *testing.T) {
		e := map[string]string{"WEALTHCOACH_SERVER_TRUSTED_PROXIES": "127.0.0.1/32"}
		for k, v := range env {
			e[k] = v
		}
		// One node: the per-address count is each node's own.
		nodes, wss := nodesBehindNginx(t, 1, e)
		mustDial(t, wss, "127.0.0.2", "")
		mustDial(t, wss, "127.0.0.2", "")
		mustRefuse(t, wss, "127.0.0.2", "")
		// A client naming another address itself is still counted under
		// the one nginx saw: nginx appends it, and the node believes only
		// the right-most address that is not a trusted proxy.
		mustRefuse(t, wss, "127.0.0.2", "198.51.100.7")
		mustRefuse(t, wss, "127.0.0.2", "198.51.100.8, 127.0.0.1")
		// Another client behind the same nginx has its own count.
		mustDial(t, wss, "127.0.0.3", "")
		mustDial(t, wss, "127.0.0.3", "198.51.100.7")
		mustRefuse(t, wss, "127.0.0.3", "")
		if got := nodes[0].perIPRefused(); got != 4 {
			t.Errorf("transport.per_ip_refused %v, want 4", got)
		}
		if remote := refusedRemote(t, nodes[0]); remote != "127.0.0.2" {
			t.Errorf("refusal line names %q, want the client nginx saw, 127.0.0.2", remote)
		}
	})

	t.Run("proxy not trusted", func(t *testing.T) {
		nodes, wss := nodesBehindNginx(t, 1, env)
		// The node sees nginx, 127.0.0.1, for every client: two clients
		// use up the one count they share.
		mustDial(t, wss, "127.0.0.2", "")
		mustDial(t, wss, "127.0.0.3", "")
		mustRefuse(t, wss, "127.0.0.4", "")
		if remote := refusedRemote(t, nodes[0]); !strings.HasPrefix(remote, "127.0.0.1:") {
			t.Errorf("refusal line names %q, want nginx's 127.0.0.1:port", remote)
		}
	})
}
