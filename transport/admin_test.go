package transport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// adminUser is the user the fixture connects; no metric may carry it.
const adminUser = "u-5be0c7d19a"

// adminVerifier takes "user:<id>" as a valid token for <id>.
type adminVerifier struct{}

func (adminVerifier) Verify(token string) (string, time.Time, error) {
	if id, ok := strings.CutPrefix(token, "user:"); ok {
		return id, time.Now().Add(time.Hour), nil
	}
	return "", time.Time{}, errors.New("bad token")
}

type adminAccounts struct{}

func (adminAccounts) LoadAccount(_ context.Context, id string) (store.Account, error) {
	return store.Account{User: store.User{ID: id, Name: id}}, nil
}

// adminFixture is a real node and chat endpoint with the admin handler in
// front of them, each on its own httptest server.
type adminFixture struct {
	node  *actors.Node
	ws    *Server
	chat  *httptest.Server // serves /ws/chat
	admin *httptest.Server
	token string
}

// newAdminFixture starts the node and both servers. edit, when non-nil,
// adjusts the admin options before NewAdmin is called.
func newAdminFixture(t *testing.T, edit func(*AdminOptions)) *adminFixture {
	t.Helper()
	node, err := actors.NewNode(actors.Options{Verifier: adminVerifier{}, Accounts: adminAccounts{}})
	if err != nil {
		t.Fatal(err)
	}
	f := &adminFixture{node: node, ws: NewServer(node, Options{})}
	f.chat = httptest.NewServer(f.ws)
	opts := AdminOptions{Node: node, WS: f.ws, Build: "v1.2.3-test",
		Checks: map[string]func(context.Context) error{"store": func(context.Context) error { return nil }}}
	if edit != nil {
		edit(&opts)
	}
	f.token = opts.Token
	f.admin = httptest.NewServer(NewAdmin(opts))
	t.Cleanup(func() {
		f.admin.Close()
		f.ws.StopAccepting()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.CloseAll(ctx)
		f.chat.Close()
		f.ws.Close()
		node.Stop()
	})
	return f
}

// connect opens an authenticated session for user and returns its id.
func (f *adminFixture) connect(t *testing.T, user string) string {
	t.Helper()
	_, id := f.open(t, user)
	return id
}

// open opens an authenticated session for user and returns its client and
// session id.
func (f *adminFixture) open(t *testing.T, user string) (*wsclient.Client, string) {
	t.Helper()
	c, _, err := wsclient.Dial("ws"+strings.TrimPrefix(f.chat.URL, "http")+"/ws/chat", wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseWithoutFrame() })
	if err := c.Authenticate("user:" + user); err != nil {
		t.Fatal(err)
	}
	fr, err := c.Next(5 * time.Second)
	if err != nil || fr.Type != "connected" {
		t.Fatalf("want connected, got %v %v", fr, err)
	}
	testutil.WaitFor(t, 5*time.Second, "the session to count as authenticated", func() bool {
		return f.node.Stats().Authenticated.Load() >= 1
	})
	return c, fr.SessionID
}

// get requests path on the admin server, with auth as the Authorization
// header when set, and returns the response and its body.
func (f *adminFixture) get(t *testing.T, method, path string, auth string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.admin.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.admin.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func decodeObject(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, body)
	}
	return m
}

func keysOf(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func TestAdminEndpoints(t *testing.T) {
	f := newAdminFixture(t, nil)
	sessionID := f.connect(t, adminUser)

	tests := []struct {
		name   string
		method string
		path   string
		status int
		ctype  string
		check  func(t *testing.T, body []byte)
	}{
		{"healthz", "GET", "/healthz", 200, "text/plain", func(t *testing.T, body []byte) {
			if string(body) != "ok\n" {
				t.Errorf("body %q", body)
			}
		}},
		{"readyz", "GET", "/readyz", 200, "application/json", func(t *testing.T, body []byte) {
			var r readiness
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			if !r.Ready || r.Draining || r.Degraded || len(r.Checks) != 1 || r.Checks["store"] != "ok" {
				t.Errorf("got %+v", r)
			}
		}},
		{"stats", "GET", "/stats", 200, "application/json", func(t *testing.T, body []byte) {
			m := decodeObject(t, body)
			if m["users"] != 1.0 || m["build"] != "v1.2.3-test" {
				t.Errorf("users %v, build %v", m["users"], m["build"])
			}
			if s := m["sessions"].(map[string]any); s["authenticated"] != 1.0 {
				t.Errorf("sessions %v", s)
			}
		}},
		{"user sessions", "GET", "/stats/users/" + adminUser, 200, "application/json", func(t *testing.T, body []byte) {
			var r userSessionsReport
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			if r.UserID != adminUser || len(r.Sessions) != 1 {
				t.Fatalf("got %s", body)
			}
			if s := r.Sessions[0]; s.SessionID != sessionID || s.State != "authenticated" || s.AgeSeconds < 0 {
				t.Errorf("got %+v", s)
			}
			if keys := keysOf(decodeObject(t, body)["sessions"].([]any)[0].(map[string]any)); keys != "age_seconds,messages,session_id,state" {
				t.Errorf("session keys %s", keys)
			}
		}},
		{"unknown user", "GET", "/stats/users/nobody", 200, "application/json", func(t *testing.T, body []byte) {
			if m := decodeObject(t, body); m["user_id"] != "nobody" || len(m["sessions"].([]any)) != 0 {
				t.Errorf("got %s", body)
			}
		}},
		{"metrics", "GET", "/metrics", 200, "text/plain", func(t *testing.T, body []byte) {
			if !strings.Contains(string(body), "wealthcoach_users 1") {
				t.Errorf("no users gauge in\n%s", body)
			}
		}},
		{"dashboard", "GET", "/", 200, "text/html", func(t *testing.T, body []byte) {
			if !strings.Contains(string(body), `id="users"`) {
				t.Error("the page has no users figure")
			}
		}},
		{"head", "HEAD", "/healthz", 200, "text/plain", nil},
		{"unknown path", "GET", "/nope", 404, "", nil},
		{"post stats", "POST", "/stats", 405, "", nil},
		{"delete readyz", "DELETE", "/readyz", 405, "", nil},
		{"put metrics", "PUT", "/metrics", 405, "", nil},
		{"post page", "POST", "/", 405, "", nil},
		{"get disconnect", "GET", "/users/" + adminUser + "/disconnect", 405, "", nil},
		{"delete disconnect", "DELETE", "/users/" + adminUser + "/disconnect", 405, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.get(t, tt.method, tt.path, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("content type %q, want %q", ct, tt.ctype)
			}
			if tt.check != nil {
				tt.check(t, body)
			}
		})
	}
}

func TestAdminStatsShape(t *testing.T) {
	f := newAdminFixture(t, nil)
	st := f.node.Stats()
	st.CacheHits.Add(3)
	st.CacheMisses.Add(1)
	st.Reject(actors.CodeBusy)
	st.TTFT.ObserveDuration(300 * time.Millisecond)
	f.ws.Stats.BytesIn.Add(42)

	_, body := f.get(t, "GET", "/stats", "")
	m := decodeObject(t, body)
	want := map[string]string{
		"":           "actors,build,cache,history,latency_ms,llm,process,providers,rejections,sessions,transport,uptime_seconds,users",
		"history":    "batches,dropped,errors,queued,rows,written",
		"sessions":   "authenticated,closed,failures,opened,stopped,streaming,unauthenticated",
		"cache":      "breaker_open,coalesced,errors,hit_ratio,hits,misses,skipped,stores",
		"llm":        "answer_ms,errors,in_flight,rate_limited,requests,retries,tokens_in,tokens_out,ttft_ms",
		"latency_ms": "auth,cached_answer",
		"transport": "accept_errors,bytes_in,bytes_out,flood_dropped,frames_in,frames_out,open_sockets,origins_refused," +
			"per_ip_refused,silent_dropped,slow_dropped,upgrade_errors,upgrades",
		"process": "gc_cycles,goroutines,heap_alloc_bytes,heap_sys_bytes,rss_bytes",
		"actors":  "cache,model,registry,session",
	}
	for section, keys := range want {
		obj := m
		if section != "" {
			obj = m[section].(map[string]any)
		}
		if got := keysOf(obj); got != keys {
			t.Errorf("%s: keys %s, want %s", section, got, keys)
		}
	}
	for kind, v := range m["actors"].(map[string]any) {
		if got := keysOf(v.(map[string]any)); got != "deepest_mailbox,live,processed,restarts" {
			t.Errorf("actors.%s: keys %s", kind, got)
		}
	}
	for _, q := range []string{"ttft_ms", "answer_ms"} {
		if got := keysOf(m["llm"].(map[string]any)[q].(map[string]any)); got != "p50,p95,p99" {
			t.Errorf("llm.%s: keys %s", q, got)
		}
	}

	var r statsReport
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.Cache.HitRatio != 0.75 {
		t.Errorf("hit ratio %v, want 0.75", r.Cache.HitRatio)
	}
	if len(r.Rejections) != 19 || r.Rejections[actors.CodeBusy] != 1 || r.Rejections[actors.CodeRateLimited] != 0 {
		t.Errorf("rejections %v: want every code, busy at 1", r.Rejections)
	}
	if p := r.LLM.TTFT.P50; p < 300 || p > 330 {
		t.Errorf("ttft p50 %v ms, want 300 to 330", p)
	}
	if r.Transport.BytesIn != 42 || r.Process.Goroutines == 0 || r.Process.HeapAllocBytes == 0 {
		t.Errorf("transport %+v, process %+v", r.Transport, r.Process)
	}
	if r.Actors["registry"].Live != 1 || r.Actors["cache"].Live != 1 {
		t.Errorf("actors %+v", r.Actors)
	}
}

func TestAdminToken(t *testing.T) {
	const token = "s3cret-admin-token"
	f := newAdminFixture(t, func(o *AdminOptions) { o.Token = token })
	const bearer = "Bearer " + token
	tests := []struct {
		path  string
		auth  string // the Authorization header
		want  int
		label string
	}{
		{"/stats", "", 401, "stats without token"},
		{"/stats", "Bearer wrong", 401, "stats with a wrong token"},
		{"/stats", bearer + "x", 401, "stats with a longer token"},
		{"/stats", "Basic " + token, 401, "stats with another scheme"},
		{"/stats", token, 401, "stats with no scheme"},
		{"/stats", bearer, 200, "stats with the token"},
		{"/stats", "bearer " + token, 200, "stats with a lower-case scheme"},
		{"/metrics", "", 401, "metrics without token"},
		{"/metrics", bearer, 200, "metrics with the token"},
		{"/readyz", "", 401, "readyz without token"},
		{"/readyz", bearer, 200, "readyz with the token"},
		{"/healthz", "", 401, "healthz without token"},
		{"/healthz", bearer, 200, "healthz with the token"},
		{"/stats/users/" + adminUser, "", 401, "user sessions without token"},
		{"/stats/users/" + adminUser, bearer, 200, "user sessions with the token"},
		{"/nope", "", 401, "unknown path without token"},
		{"/", "", 200, "page without token"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			resp, body := f.get(t, "GET", tt.path, tt.auth)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	for auth, want := range map[string]int{"": 401, "Bearer wrong": 401, bearer: 200} {
		if resp, body := f.get(t, "POST", "/users/"+adminUser+"/disconnect", auth); resp.StatusCode != want {
			t.Errorf("disconnect with %q: status %d, want %d: %s", auth, resp.StatusCode, want, body)
		}
	}
}

func TestAdminReadyz(t *testing.T) {
	long := strings.Repeat("x", 500)
	release := make(chan struct{}) // frees the check that ignores its context
	t.Cleanup(func() { close(release) })
	ok := func(context.Context) error { return nil }
	refused := func(context.Context) error { return errors.New("connection refused") }
	type checks = map[string]func(context.Context) error
	tests := []struct {
		name     string
		checks   checks
		degraded checks // degrade-only
		drain    bool
		want     int
		draining bool
		isDegr   bool // the body's "degraded"
		results  map[string]string
	}{
		{name: "no checks", want: 200, results: map[string]string{}},
		{name: "all pass", checks: checks{"store": ok}, degraded: checks{"cache": ok},
			want: 200, results: map[string]string{"store": "ok", "cache": "ok"}},
		{name: "required fails", checks: checks{"store": refused}, degraded: checks{"cache": ok},
			want: 503, results: map[string]string{"store": "error: connection refused", "cache": "ok"}},
		// A Redis outage must not take the fleet out of the load balancer.
		{name: "degrade-only fails", checks: checks{"store": ok}, degraded: checks{"cache": refused},
			want: 200, isDegr: true, results: map[string]string{"store": "ok", "cache": "error: connection refused"}},
		{name: "only degrade-only checks, all fail", degraded: checks{"cache": refused, "cluster": refused},
			want: 200, isDegr: true, results: map[string]string{"cache": "error: connection refused", "cluster": "error: connection refused"}},
		{name: "both fail", checks: checks{"store": refused}, degraded: checks{"cache": refused},
			want: 503, isDegr: true, results: map[string]string{"store": "error: connection refused", "cache": "error: connection refused"}},
		{name: "long error is cut", checks: checks{"store": func(context.Context) error { return errors.New(long) }},
			want: 503, results: map[string]string{"store": "error: " + long[:199] + "…"}},
		{name: "check past its timeout", checks: checks{"store": func(context.Context) error { <-release; return nil }},
			want: 503, results: map[string]string{"store": "error: context deadline exceeded"}},
		{name: "degrade-only check past its timeout", checks: checks{"store": ok},
			degraded: checks{"cache": func(context.Context) error { <-release; return nil }},
			want:     200, isDegr: true, results: map[string]string{"store": "ok", "cache": "error: context deadline exceeded"}},
		{name: "draining", checks: checks{"store": ok}, drain: true,
			want: 503, draining: true, results: map[string]string{"store": "ok"}},
		{name: "draining and degraded", checks: checks{"store": ok}, degraded: checks{"cache": refused}, drain: true,
			want: 503, draining: true, isDegr: true, results: map[string]string{"store": "ok", "cache": "error: connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAdminFixture(t, func(o *AdminOptions) { o.Checks, o.Degraded = tt.checks, tt.degraded })
			if tt.drain {
				f.node.Drain()
			}
			start := time.Now()
			resp, body := f.get(t, "GET", "/readyz", "")
			if took := time.Since(start); took > 4*time.Second {
				t.Errorf("readyz took %v", took)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			var r readiness
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			if r.Ready != (tt.want == 200) || r.Draining != tt.draining || r.Degraded != tt.isDegr {
				t.Errorf("got %s", body)
			}
			if len(r.Checks) != len(tt.results) {
				t.Errorf("checks %v, want %v", r.Checks, tt.results)
			}
			for name, want := range tt.results {
				if r.Checks[name] != want {
					t.Errorf("check %s: %q, want %q", name, r.Checks[name], want)
				}
			}
		})
	}
}

// slowRegistry stands in for a registry that does not answer in time.
type slowRegistry struct{}

func (slowRegistry) UserSessions(string, time.Duration) ([]actors.SessionInfo, error) {
	return nil, errors.New("ask registry: future: timeout")
}

func (slowRegistry) UserSpend(string, time.Duration) (actors.Spend, error) {
	return actors.Spend{}, errors.New("ask user spend: future: timeout")
}

func (slowRegistry) Disconnect(string, time.Duration) (int, error) {
	return 0, errors.New("ask registry: future: timeout")
}

func TestAdminRegistryTimeout(t *testing.T) {
	f := newAdminFixture(t, nil)
	a := newAdmin(AdminOptions{Node: f.node})
	a.users = slowRegistry{}
	tests := []struct {
		name    string
		method  string
		path    string
		handler http.HandlerFunc
	}{
		{"user sessions", "GET", "/stats/users/" + adminUser, a.userSessions},
		{"disconnect", "POST", "/users/" + adminUser + "/disconnect", a.disconnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.SetPathValue("id", adminUser)
			rec := httptest.NewRecorder()
			tt.handler(rec, req)
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if m := decodeObject(t, rec.Body.Bytes()); m["error"] != "registry did not answer in time" {
				t.Errorf("got %s", rec.Body)
			}
		})
	}
}

// TestAdminDisconnect: the user's sessions get session_revoked and close
// 1008 "Session revoked"; another user's session goes on; the user can
// connect again; each closed session is counted.
func TestAdminDisconnect(t *testing.T) {
	const other = "u-0ther0ther"
	f := newAdminFixture(t, nil)
	first, _ := f.open(t, adminUser)
	second, _ := f.open(t, adminUser)
	bystander, _ := f.open(t, other)
	testutil.WaitFor(t, 5*time.Second, "three authenticated sessions", func() bool {
		return f.node.Stats().Authenticated.Load() == 3
	})

	resp, body := f.get(t, "POST", "/users/"+adminUser+"/disconnect", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if m := decodeObject(t, body); m["user_id"] != adminUser || m["sessions"] != 2.0 || keysOf(m) != "sessions,user_id" {
		t.Errorf("got %s", body)
	}
	for i, c := range []*wsclient.Client{first, second} {
		fr, err := c.Next(5 * time.Second)
		if err != nil || fr.Type != "error" || fr.Code != "session_revoked" || fr.Message == "" {
			t.Fatalf("session %d: want error session_revoked, got %v %v", i, fr, err)
		}
		ce, err := c.Closed(5 * time.Second)
		if err != nil || ce.Code != 1008 || ce.Reason != "Session revoked" {
			t.Fatalf("session %d: want close 1008 Session revoked, got %v %v", i, ce, err)
		}
	}
	if err := bystander.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if fr, err := bystander.Next(5 * time.Second); err != nil || fr.Type != "pong" {
		t.Fatalf("the other user's session: want pong, got %v %v", fr, err)
	}
	testutil.WaitFor(t, 5*time.Second, "the revoked sessions to end", func() bool {
		return f.node.Stats().Authenticated.Load() == 1
	})
	_, body = f.get(t, "GET", "/stats", "")
	if got := decodeObject(t, body)["rejections"].(map[string]any)["session_revoked"]; got != 2.0 {
		t.Errorf("/stats rejections.session_revoked %v, want 2", got)
	}
	if _, body = f.get(t, "GET", "/metrics", ""); !strings.Contains(string(body), `wealthcoach_rejections_total{code="session_revoked"} 2`) {
		t.Errorf("/metrics does not count the 2 revoked sessions")
	}
	fresh, _ := f.open(t, adminUser) // revocation is no ban

	again := []struct {
		name   string
		path   string
		header map[string]string
		status int
		body   string
	}{
		{"user without sessions", "/users/nobody/disconnect", nil, 200, `"sessions": 0`},
		{"id too long", "/users/" + strings.Repeat("x", store.MaxUserIDLen+1) + "/disconnect", nil, 400, "invalid user id"},
		{"id with a control character", "/users/a%01b/disconnect", nil, 400, "invalid user id"},
		{"from another site's page", "/users/" + adminUser + "/disconnect",
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403, ""},
	}
	for _, tt := range again {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", f.admin.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := f.admin.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.body) {
				t.Errorf("status %d, body %s; want %d with %q", resp.StatusCode, b, tt.status, tt.body)
			}
		})
	}
	// A revocation would reach the session before this ping does.
	if err := fresh.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if fr, err := fresh.Next(5 * time.Second); err != nil || fr.Type != "pong" {
		t.Fatalf("the session opened after the revocation: want pong, got %v %v", fr, err)
	}
}

func TestAdminMetrics(t *testing.T) {
	f := newAdminFixture(t, nil)
	sessionID := f.connect(t, adminUser)
	st := f.node.Stats()
	st.Reject(actors.CodeRateLimited)
	st.Reject(actors.CodeRateLimited)
	st.TTFT.ObserveDuration(400 * time.Millisecond)
	st.TTFT.ObserveDuration(2 * time.Second)

	_, body := f.get(t, "GET", "/metrics", "")
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("not Prometheus text: %v", err)
	}

	ttft := families["wealthcoach_llm_time_to_first_token_seconds"]
	if ttft == nil || ttft.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("no TTFT histogram: %v", ttft)
	}
	h := ttft.GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() < 2.3 || h.GetSampleSum() > 2.5 {
		t.Errorf("TTFT count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		switch {
		case b.GetUpperBound() >= 3:
			want = 2
		case b.GetUpperBound() >= .5:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("TTFT bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}

	series := []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"wealthcoach_rejections_total", map[string]string{"code": "rate_limited"}, 2},
		{"wealthcoach_rejections_total", map[string]string{"code": "busy"}, 0},
		{"wealthcoach_sessions", map[string]string{"state": "authenticated"}, 1},
		{"wealthcoach_users", nil, 1},
		{"wealthcoach_actors", map[string]string{"kind": "registry"}, 1},
		{"wealthcoach_open_sockets", nil, 1},
		{"wealthcoach_upgrades_total", nil, 1},
		{"wealthcoach_frames_total", map[string]string{"direction": "in"}, 1},
		{"wealthcoach_sessions_opened_total", nil, 1},
		{"wealthcoach_build_info", map[string]string{"version": "v1.2.3-test"}, 1},
		{"wealthcoach_cache_requests_total", map[string]string{"result": "miss"}, 0},
		{"wealthcoach_llm_tokens_total", map[string]string{"direction": "out"}, 0},
		{"wealthcoach_dropped_connections_total", map[string]string{"reason": "slow"}, 0},
	}
	for _, s := range series {
		v, ok := findSeries(families[s.family], s.labels)
		if !ok {
			t.Errorf("%s%v missing", s.family, s.labels)
		} else if v != s.want {
			t.Errorf("%s%v = %v, want %v", s.family, s.labels, v, s.want)
		}
	}
	for _, name := range []string{"wealthcoach_handshake_seconds", "wealthcoach_answer_seconds",
		"wealthcoach_cached_answer_seconds", "wealthcoach_frame_bytes", "go_goroutines", "process_resident_memory_bytes"} {
		if families[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if n := len(families["wealthcoach_rejections_total"].GetMetric()); n != 19 {
		t.Errorf("%d rejection codes, want 19", n)
	}

	// Labels name states, kinds and codes, never who is connected.
	if strings.Contains(string(body), adminUser) || strings.Contains(string(body), sessionID) {
		t.Error("a user or session id reached /metrics")
	}
	idLike := regexp.MustCompile(`^[0-9a-f]{12,}$`)
	for name, fam := range families {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if idLike.MatchString(l.GetValue()) || strings.HasPrefix(l.GetValue(), "u-") {
					t.Errorf("%s{%s=%q} looks like an id", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// findSeries returns the value of the counter or gauge in fam whose labels
// include want.
func findSeries(fam *dto.MetricFamily, want map[string]string) (float64, bool) {
	for _, m := range fam.GetMetric() {
		got := make(map[string]string)
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if !match {
			continue
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven ch…"},
		{"ééééééé", 4, "ééé…"},
	}
	for _, tt := range tests {
		if got := clip(tt.in, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
