package transport

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

// ParseTrustedProxies parses server.trusted_proxies: CIDRs such as
// "10.0.0.0/8" or "fd00::/8", or single addresses, which stand for
// themselves.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is neither a CIDR such as \"10.0.0.0/8\" nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clientAddr is who sent a request, as far as the server can tell.
type clientAddr struct {
	ip netip.Addr // the key of the per-address count; invalid if the peer's address did not parse
	// forwarded is set when ip came from X-Forwarded-For rather than from
	// the TCP peer.
	forwarded bool
}

// remote is the address log lines carry: the peer's host:port, or the
// forwarded address when a trusted proxy named the client.
func (a clientAddr) remote(peer string) string {
	if a.forwarded {
		return a.ip.String()
	}
	return peer
}

// resolveClient finds the client of a request whose TCP peer is peer
// (host:port). A peer outside trusted is the client, whatever headers it
// sent, so that nobody can pick the address they are counted under. A
// trusted peer (a load balancer) appended the address it saw to
// X-Forwarded-For, as every proxy before it did: the client is the
// right-most entry that is not itself a trusted proxy. Entries to its left
// were written by the client and are never believed. When an entry does
// not parse, the walk stops at the last address a trusted proxy vouched
// for; when every entry is trusted, the left-most one is the client.
func resolveClient(peer string, header http.Header, trusted []netip.Prefix) clientAddr {
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		return clientAddr{}
	}
	client := clientAddr{ip: ap.Addr().Unmap().WithZone("")}
	if !isTrusted(client.ip, trusted) {
		return client
	}
	values := header.Values("X-Forwarded-For")
	// Several header lines count as one list, in order.
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, rest = rest, ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			ip, ok := parseForwarded(entry)
			if !ok {
				return client
			}
			client = clientAddr{ip: ip, forwarded: true}
			if !isTrusted(ip, trusted) {
				return client
			}
		}
	}
	return client
}

// parseForwarded reads one X-Forwarded-For entry: an address, which some
// proxies write with a port ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseForwarded(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// perAddress counts the connections from each client address that have not
// authenticated yet. An address is in the map only while it has one, so
// a scan from many addresses leaves nothing behind.
type perAddress struct {
	max int
	mu  sync.Mutex
	n   map[netip.Addr]int
}

func newPerAddress(max int) *perAddress {
	return &perAddress{max: max, n: make(map[netip.Addr]int)}
}

// acquire counts one more connection from ip, unless ip already has max.
func (p *perAddress) acquire(ip netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip] >= p.max {
		return false
	}
	p.n[ip]++
	return true
}

// release undoes one acquire.
func (p *perAddress) release(ip netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.n[ip]; n > 1 {
		p.n[ip] = n - 1
	} else {
		delete(p.n, ip)
	}
}

// addresses is how many addresses are counted, for tests.
func (p *perAddress) addresses() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.n)
}
