package transport

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{name: "none", in: nil, want: []string{}},
		{name: "cidrs", in: []string{"10.0.0.0/8", " fd00::/8 "}, want: []string{"10.0.0.0/8", "fd00::/8"}},
		{name: "host bits are dropped", in: []string{"192.168.1.7/24"}, want: []string{"192.168.1.0/24"}},
		{name: "single addresses", in: []string{"10.1.2.3", "::1", "::ffff:10.0.0.1"}, want: []string{"10.1.2.3/32", "::1/128", "10.0.0.1/32"}},
		{name: "hostname", in: []string{"lb.internal"}, wantErr: `"lb.internal" is neither a CIDR`},
		{name: "bad prefix length", in: []string{"10.0.0.0/33"}, wantErr: `"10.0.0.0/33"`},
		{name: "empty entry", in: []string{""}, wantErr: `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTrustedProxies(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", s, tt.want)
			}
		})
	}
}

func TestResolveClient(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		peer       string
		xff        []string // one header line each
		want       string   // the address counted
		wantRemote string   // the address logged
	}{
		{name: "direct peer", peer: "203.0.113.5:4711", want: "203.0.113.5", wantRemote: "203.0.113.5:4711"},
		{name: "spoofed header from an untrusted peer", peer: "203.0.113.5:4711", xff: []string{"198.51.100.1"},
			want: "203.0.113.5", wantRemote: "203.0.113.5:4711"},
		{name: "trusted proxy without a header", peer: "10.0.0.2:80", want: "10.0.0.2", wantRemote: "10.0.0.2:80"},
		{name: "trusted proxy, one entry", peer: "10.0.0.2:80", xff: []string{"198.51.100.1"},
			want: "198.51.100.1", wantRemote: "198.51.100.1"},
		{name: "several entries: the client's own are not believed", peer: "10.0.0.2:80",
			xff: []string{"1.2.3.4, 198.51.100.1, 10.0.0.9"}, want: "198.51.100.1", wantRemote: "198.51.100.1"},
		{name: "several header lines are one list", peer: "10.0.0.2:80",
			xff: []string{"1.2.3.4", "198.51.100.1,10.0.0.9"}, want: "198.51.100.1", wantRemote: "198.51.100.1"},
		{name: "every entry trusted: the left-most", peer: "10.0.0.2:80", xff: []string{"10.0.0.7, 10.0.0.9"},
			want: "10.0.0.7", wantRemote: "10.0.0.7"},
		{name: "entry with a port", peer: "10.0.0.2:80", xff: []string{"198.51.100.1:5555"}, want: "198.51.100.1", wantRemote: "198.51.100.1"},
		{name: "empty entries skipped", peer: "10.0.0.2:80", xff: []string{"198.51.100.1, ,"}, want: "198.51.100.1", wantRemote: "198.51.100.1"},
		{name: "ipv6 peer", peer: "[2001:db8::1]:443", xff: []string{"198.51.100.1"}, want: "2001:db8::1", wantRemote: "[2001:db8::1]:443"},
		{name: "ipv6 trusted proxy and client", peer: "[fd00::2]:443", xff: []string{"2001:db8::7, fd00::3"},
			want: "2001:db8::7", wantRemote: "2001:db8::7"},
		{name: "ipv6 client with a port", peer: "[fd00::2]:443", xff: []string{"[2001:db8::7]:5555"},
			want: "2001:db8::7", wantRemote: "2001:db8::7"},
		{name: "ipv4-mapped peer counts as ipv4", peer: "[::ffff:10.0.0.2]:80", xff: []string{"198.51.100.1"},
			want: "198.51.100.1", wantRemote: "198.51.100.1"},
		{name: "malformed header: the proxy", peer: "10.0.0.2:80", xff: []string{"not-an-ip"}, want: "10.0.0.2", wantRemote: "10.0.0.2:80"},
		{name: "malformed entry left of a client is never reached", peer: "10.0.0.2:80", xff: []string{"garbage, 198.51.100.1"},
			want: "198.51.100.1", wantRemote: "198.51.100.1"},
		{name: "malformed entry behind a trusted hop: that hop", peer: "10.0.0.2:80", xff: []string{"198.51.100.1, junk, 10.0.0.9"},
			want: "10.0.0.9", wantRemote: "10.0.0.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.xff {
				h.Add("X-Forwarded-For", v)
			}
			got := resolveClient(tt.peer, h, trusted)
			if got.ip != netip.MustParseAddr(tt.want) {
				t.Errorf("client %v, want %s", got.ip, tt.want)
			}
			if r := got.remote(tt.peer); r != tt.wantRemote {
				t.Errorf("remote %q, want %q", r, tt.wantRemote)
			}
		})
	}
	// Without trusted proxies the header is never read.
	h := http.Header{"X-Forwarded-For": {"198.51.100.1"}}
	if got := resolveClient("10.0.0.2:80", h, nil); got.ip != netip.MustParseAddr("10.0.0.2") || got.forwarded {
		t.Errorf("no trusted proxies: client %+v", got)
	}
}

func TestPerAddressForgetsAddresses(t *testing.T) {
	p := newPerAddress(2)
	a := netip.MustParseAddr("192.0.2.1")
	first, second, third := p.acquire(a), p.acquire(a), p.acquire(a)
	if !first || !second || third {
		t.Fatal("want two slots, then a refusal")
	}
	p.release(a)
	if !p.acquire(a) {
		t.Fatal("a released slot is free again")
	}
	p.release(a)
	p.release(a)
	// A scan from many addresses leaves no entry behind.
	var ips []netip.Addr
	for i := range 10_000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ips = append(ips, ip)
		if !p.acquire(ip) {
			t.Fatalf("%v refused", ip)
		}
	}
	if n := p.addresses(); n != 10_000 {
		t.Fatalf("%d addresses counted, want 10000", n)
	}
	for _, ip := range ips {
		p.release(ip)
	}
	if n := p.addresses(); n != 0 {
		t.Errorf("%d addresses left after every connection ended, want 0", n)
	}
}

// TestPerIPSlotGivenBackOnce checks that a connection gives its address's
// slot back exactly once, whether it authenticates, closes, or both.
func TestPerIPSlotGivenBackOnce(t *testing.T) {
	node, err := actors.NewNode(actors.Options{Verifier: adminVerifier{}, Accounts: adminAccounts{}})
	if err != nil {
		t.Fatal(err)
	}
	ws := NewServer(node, Options{MaxUnauthenticatedPerIP: 2})
	srv := httptest.NewServer(ws)
	t.Cleanup(func() {
		ws.StopAccepting()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.CloseAll(ctx)
		srv.Close()
		ws.Close()
		node.Stop()
	})
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/chat"
	dial := func(t *testing.T) (*wsclient.Client, int) {
		t.Helper()
		c, resp, err := wsclient.Dial(url, wsclient.Options{})
		if err != nil {
			if resp == nil {
				t.Fatal(err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { _ = c.CloseWithoutFrame() })
		return c, http.StatusSwitchingProtocols
	}
	mustDial := func(t *testing.T) *wsclient.Client {
		t.Helper()
		c, code := dial(t)
		if c == nil {
			t.Fatalf("upgrade refused with %d", code)
		}
		return c
	}

	authed := mustDial(t)
	if err := authed.Authenticate("user:u1"); err != nil {
		t.Fatal(err)
	}
	if f, err := authed.Next(5 * time.Second); err != nil || f.Type != "connected" {
		t.Fatalf("want connected, got %v %v", f, err)
	}
	waiting := mustDial(t)
	// The authenticated connection gave its slot back when it
	// authenticated; closing it must not give back another, which would
	// be the waiting connection's.
	_ = authed.CloseWithoutFrame()
	testutil.WaitFor(t, 5*time.Second, "the closed socket to be gone", func() bool { return ws.Stats.Live.Load() == 1 })
	mustDial(t)
	if _, code := dial(t); code != http.StatusTooManyRequests {
		t.Fatalf("third unauthenticated connection from one address: %d, want 429", code)
	}
	if n := ws.Stats.PerIPRefused.Load(); n != 1 {
		t.Errorf("per_ip_refused %d, want 1", n)
	}
	// A connection that closes before authenticating gives its slot back.
	_ = waiting.CloseWithoutFrame()
	testutil.WaitFor(t, 5*time.Second, "a slot to come free", func() bool {
		c, _ := dial(t)
		return c != nil
	})
	// Once every socket is gone the address is forgotten.
	// The client's dial returns on the 101, before the server's read loop
	// has opened the connection, so the last one may not be in conns yet:
	// close what is there on every try.
	testutil.WaitFor(t, 5*time.Second, "every address to be forgotten", func() bool {
		ws.conns.Range(func(k, _ any) bool { _ = k.(*conn).ws.NetConn().Close(); return true })
		return ws.Stats.Live.Load() == 0 && ws.perIP.addresses() == 0
	})
}
