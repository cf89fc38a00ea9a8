package loadtest

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func fakeToken(user string) (string, error) { return "token-" + user, nil }

// TestLoopbackURL checks that the engine refuses every host that is not
// this machine's loopback, before sending anything.
func TestLoopbackURL(t *testing.T) {
	cases := []struct {
		url string
		ok  bool
	}{
		{"ws://127.0.0.1:8080/ws/chat", true},
		{"ws://127.1.2.3/ws/chat", true},
		{"ws://localhost:8080/ws/chat", true},
		{"wss://LOCALHOST/ws/chat", true},
		{"ws://[::1]:8080/ws/chat", true},
		{"ws://[::ffff:127.0.0.1]:8080/ws/chat", true},
		{"ws://10.0.0.1:8080/ws/chat", false},
		{"ws://192.168.1.10/ws/chat", false},
		{"ws://0.0.0.0:8080/ws/chat", false},
		{"ws://example.com/ws/chat", false},
		{"ws://localhost.example.com/ws/chat", false},
		{"ws://[2001:db8::1]/ws/chat", false},
		{"ws://127.0.0.1.example.com/", false},
		{"http://127.0.0.1:8080/ws/chat", false},
		{"ws:///ws/chat", false},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			_, err := loopbackURL(c.url)
			if (err == nil) != c.ok {
				t.Fatalf("loopbackURL(%q) = %v, want ok=%v", c.url, err, c.ok)
			}
		})
	}
}

func TestRunRefusesRemoteHost(t *testing.T) {
	_, err := Run(t.Context(), Options{URL: "ws://192.0.2.1:8080/ws/chat", Sessions: 1, Token: fakeToken}, nil)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Run with a remote host: err = %v", err)
	}
}

func TestWithDefaultsRefuses(t *testing.T) {
	base := Options{URL: "ws://127.0.0.1:1/ws/chat", Sessions: 10, Token: fakeToken}
	cases := []struct {
		name string
		mod  func(*Options)
	}{
		{"no sessions", func(o *Options) { o.Sessions = 0 }},
		{"negative users", func(o *Options) { o.Users = -1 }},
		{"negative messages", func(o *Options) { o.Messages = -1 }},
		{"repeat above one", func(o *Options) { o.Repeat = 1.5 }},
		{"negative think", func(o *Options) { o.Think = -time.Second }},
		{"too many source ips", func(o *Options) { o.SourceIPs = 256 }},
		{"no token", func(o *Options) { o.Token = nil }},
		{"ipv6 with spread", func(o *Options) { o.URL = "ws://[::1]:1/"; o.SourceIPs = 4 }},
		{"free-memory url without a server to sample", func(o *Options) { o.FreeMemoryURL = "http://127.0.0.1:1/debug/free-memory" }},
		{"free-memory url off loopback", func(o *Options) { o.ServerPID = 1; o.FreeMemoryURL = "http://192.0.2.1/debug/free-memory" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.mod(&o)
			if _, err := o.WithDefaults(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestWithDefaultsFills(t *testing.T) {
	o, err := Options{URL: "ws://localhost:1/ws/chat", Sessions: 45000, Token: fakeToken}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.SourceIPs != 3 || o.URL != "ws://127.0.0.1:1/ws/chat" || o.Users != 45000 {
		t.Errorf("defaults for 45000 sessions: source IPs %d, url %s, users %d", o.SourceIPs, o.URL, o.Users)
	}
	if o.MaxHandshakes != DefaultMaxHandshakes || o.Duration != DefaultDuration || o.Timeout != DefaultTimeout {
		t.Errorf("defaults: max handshakes %d, duration %s, timeout %s", o.MaxHandshakes, o.Duration, o.Timeout)
	}
}

// TestPlan checks the warnings a person sees before a run that will meet
// the server's per-user limits.
func TestPlan(t *testing.T) {
	cases := []struct {
		name   string
		o      Options
		l      Limits
		want   []string // substrings of lines past the first two
		absent []string
	}{
		{name: "one session per user", o: Options{Sessions: 10, Users: 10, Messages: 3},
			l: Limits{MaxConnectionsPerUser: 2, RateBurst: 5}, absent: []string{"warning", "note"}},
		{name: "too many sessions per user", o: Options{Sessions: 10, Users: 2, Messages: 1},
			l: Limits{MaxConnectionsPerUser: 3}, want: []string{"5 sessions per user exceed limits.max_connections_per_user 3"}},
		{name: "too many messages per user", o: Options{Sessions: 4, Users: 2, Messages: 4},
			l: Limits{RateBurst: 6}, want: []string{"8 messages per user exceed llm.rate_limit.burst 6"}},
		{name: "repeats without a second session", o: Options{Sessions: 4, Users: 4, Messages: 1, Repeat: 1},
			want: []string{"use --users below --sessions"}},
		{name: "repeats across sessions", o: Options{Sessions: 4, Users: 2, Messages: 1, Repeat: 1, Ramp: 4 * time.Second},
			want: []string{"start 2s apart"}},
		{name: "source addresses", o: Options{Sessions: 4, SourceIPs: 3}, want: []string{"127.0.0.1 … 127.0.0.3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.UserPrefix, c.o.URL = "u", "ws://127.0.0.1:1/ws/chat"
			lines := c.o.Plan(c.l)
			if len(lines) < 2 || !strings.Contains(lines[0], " sessions as u0 … u") {
				t.Fatalf("plan = %q", lines)
			}
			rest := strings.Join(lines[2:], "\n")
			for _, w := range c.want {
				if !strings.Contains(rest, w) {
					t.Errorf("plan lacks %q:\n%s", w, strings.Join(lines, "\n"))
				}
			}
			for _, a := range c.absent {
				if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, a) }) {
					t.Errorf("plan has %q:\n%s", a, strings.Join(lines, "\n"))
				}
			}
		})
	}
}
