package transport

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/llm"
)

// AdminOptions configures the operator endpoints served by NewAdmin.
type AdminOptions struct {
	Node *actors.Node // required
	WS   *Server      // the chat endpoint whose counters are shown; nil shows zeros

	// Token, when non-empty, must be sent as "Authorization: Bearer <token>"
	// to every endpoint except the dashboard page. Empty means no check,
	// which is only safe on a loopback listener.
	Token string

	// Checks are the readiness checks by name, for example "store": what
	// the node cannot take new sessions without, so one failing makes
	// /readyz 503. Degraded are those of dependencies the chat lives
	// without, for example "cache": one failing is reported in the body
	// ("degraded": true) and /readyz stays 200, so that a load balancer
	// never takes the whole fleet out for them. A name is in one map only.
	// Each check runs with a 2s timeout on every /readyz request. Their
	// error messages are shown to whoever may call /readyz, so they must
	// not carry secrets; they are cut to 200 characters.
	Checks   map[string]func(ctx context.Context) error
	Degraded map[string]func(ctx context.Context) error

	Logger *slog.Logger // default: discard
	Build  string       // version shown on /stats and the dashboard; default "dev"

	// Providers reports each model provider's requests, errors and breaker
	// state (llm.Chain.Stats) for /stats and /metrics; nil shows none.
	Providers func() []llm.ProviderStats

	// Fleet is the cluster the node belongs to: /stats gains its view,
	// /readyz reports it as degraded while Redis is gone, and a
	// disconnect reaches every node. nil for a node on its own.
	Fleet Fleet

	// Extra handlers, by ServeMux pattern, served behind the same token
	// check: for example net/http/pprof's.
	Extra map[string]http.Handler

	// HistoryInterval is how often the ring behind /stats/history takes a
	// sample of the last 15 minutes. Zero means 5s (180 samples).
	HistoryInterval time.Duration
	// Context bounds the sampler behind /stats/history: it stops when
	// Context ends, which should be when the admin listener shuts down.
	// nil means it stops once the handler is no longer referenced.
	Context context.Context
}

const (
	adminCheckTimeout    = 2 * time.Second
	adminRegistryTimeout = 2 * time.Second
	adminMaxCheckMessage = 200 // characters of a failing check's message
)

// admin holds what the operator endpoints read. Every handler reads
// atomics or asks the registry once; none messages the sessions.
type admin struct {
	node   *actors.Node
	users  registryAsker // the node; replaced in tests
	ws     *Stats
	log    *slog.Logger
	build  string
	checks []adminCheck // sorted by name

	providers func() []llm.ProviderStats // never nil
	fleet     Fleet                      // nil for a node on its own
}

// registryAsker asks the registry about one user's sessions, or to close
// them.
type registryAsker interface {
	UserSessions(userID string, timeout time.Duration) ([]actors.SessionInfo, error)
	UserSpend(userID string, timeout time.Duration) (actors.Spend, error)
	Disconnect(userID string, timeout time.Duration) (int, error)
}

var _ registryAsker = (*actors.Node)(nil)

type adminCheck struct {
	name     string
	run      func(ctx context.Context) error
	required bool         // failing makes the node not ready; otherwise degraded
	failed   *atomic.Bool // the last run's outcome, so only changes are logged
}

// NewAdmin returns the operator endpoints, all GET but one (other methods
// get 405):
//
//	/                  the dashboard, a self-contained page polling /stats, /readyz and
//	                   /stats/history
//	/healthz           200 "ok" while the process runs
//	/readyz            503 while draining or when a required check fails, 200 when only
//	                   degrade-only checks fail; JSON with each check's result
//	/stats             JSON snapshot of the node, the chat endpoint and the process
//	/stats/history     the last 15 minutes in samples, for the dashboard's charts
//	                   (shape documented at historyReport)
//	/stats/users/{id}  one user's live sessions, asked of the registry, and their
//	                   model tokens today (tokens_today; budget when one is set)
//	/metrics           Prometheus exposition, read from the same counters on scrape
//
// and POST /users/{id}/disconnect, which closes that user's sessions on
// this node with 1008 "Session revoked", and with a Fleet on every other
// node, and answers how many it told.
//
// When Token is set every path but "/" requires it: the page holds no
// data and asks for the token, which it sends with its own requests.
// Reading the endpoints never waits on a session actor, so polling them
// costs the chat traffic nothing. A request that changes something is
// refused when a browser sends it from another origin, as a page the
// operator visits could otherwise post to a loopback listener without a
// token.
func NewAdmin(o AdminOptions) http.Handler {
	if o.Node == nil {
		panic("transport: AdminOptions.Node is required")
	}
	a := newAdmin(o)
	hist, stop := startHistory(o)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveDashboard)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /stats", a.stats)
	mux.HandleFunc("GET /stats/history", hist.serve)
	mux.HandleFunc("GET /stats/users/{id}", a.userSessions)
	mux.HandleFunc("POST /users/{id}/disconnect", a.disconnect)
	mux.Handle("GET /metrics", a.metricsHandler())
	for pattern, h := range o.Extra {
		mux.Handle(pattern, h)
	}
	h := http.NewCrossOriginProtection().Handler(mux)
	if o.Token == "" {
		h = loopbackHostsOnly(h)
	} else {
		h = requireBearer(o.Token, h)
	}
	return ownedBy(h, hist, stop)
}

// loopbackHostsOnly refuses requests whose Host is not a loopback name.
// Without a token the admin listener trusts whoever can reach it, which
// for a loopback listener is this machine; but a web page in a local
// browser can reach it too, through DNS rebinding (its own name resolved
// to 127.0.0.1), and its requests carry that name in Host.
func loopbackHostsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackHost(r.Host) {
			http.Error(w, "admin: host not allowed without admin.token; use localhost, 127.0.0.1 or [::1]", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopbackHost reports whether a Host header names localhost, 127.0.0.1
// or [::1], with or without a port.
func isLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1", "[::1]":
		return true
	}
	return false
}

func newAdmin(o AdminOptions) *admin {
	a := &admin{node: o.Node, users: o.Node, log: o.Logger, build: o.Build, providers: o.Providers, fleet: o.Fleet}
	if a.providers == nil {
		a.providers = func() []llm.ProviderStats { return nil }
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.build == "" {
		a.build = "dev"
	}
	a.ws = new(Stats)
	if o.WS != nil {
		a.ws = &o.WS.Stats
	}
	for name, run := range o.Checks {
		a.checks = append(a.checks, adminCheck{name: name, run: run, required: true, failed: new(atomic.Bool)})
	}
	for name, run := range o.Degraded {
		if _, dup := o.Checks[name]; dup {
			panic("transport: readiness check " + name + " is in both Checks and Degraded")
		}
		a.checks = append(a.checks, adminCheck{name: name, run: run, failed: new(atomic.Bool)})
	}
	if o.Fleet != nil {
		a.checks = append(a.checks, adminCheck{name: "cluster", run: fleetCheck(o.Fleet), failed: new(atomic.Bool)})
	}
	sort.Slice(a.checks, func(i, j int) bool { return a.checks[i].name < a.checks[j].name })
	return a
}

// requireBearer lets a request through to next only with the bearer
// token, except for the dashboard page itself. Tokens are compared as
// hashes, in constant time, so neither their content nor their length
// shows in the response time.
func requireBearer(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(got))
		ok := subtle.ConstantTimeCompare(sum[:], want[:]) == 1 && strings.EqualFold(scheme, "Bearer")
		if !ok && r.URL.Path != "/" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wealthcoach-admin"`)
			writeAdminJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *admin) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

type readiness struct {
	Ready    bool              `json:"ready"`
	Draining bool              `json:"draining"`
	Degraded bool              `json:"degraded"` // a degrade-only check fails
	Checks   map[string]string `json:"checks"`
}

// readyz runs every check, in parallel, even while draining: the body then
// still tells an operator whether the dependencies answer. Only a required
// check failing, or draining, makes it 503.
func (a *admin) readyz(w http.ResponseWriter, r *http.Request) {
	res := readiness{Draining: a.node.Draining(), Checks: make(map[string]string, len(a.checks))}
	results := make([]error, len(a.checks))
	var wg sync.WaitGroup
	for i, c := range a.checks {
		wg.Go(func() { results[i] = runCheck(r.Context(), c.run) })
	}
	wg.Wait()
	res.Ready = !res.Draining
	for i, c := range a.checks {
		res.Checks[c.name] = "ok"
		if err := results[i]; err != nil {
			res.Ready = res.Ready && !c.required
			res.Degraded = res.Degraded || !c.required
			res.Checks[c.name] = "error: " + clip(err.Error(), adminMaxCheckMessage)
		}
		a.logChange(c, results[i])
	}
	status := http.StatusOK
	if !res.Ready {
		status = http.StatusServiceUnavailable
	}
	writeAdminJSON(w, status, res)
}

// runCheck runs check with the readiness timeout, and gives up on a check
// that ignores its context rather than hold the probe past the timeout.
func runCheck(ctx context.Context, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, adminCheckTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- check(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logChange logs a check that starts or stops failing. Probes come every
// few seconds, so logging each failure would flood the log.
func (a *admin) logChange(c adminCheck, err error) {
	changed := c.failed.Swap(err != nil) != (err != nil)
	switch {
	case changed && err != nil:
		a.log.Warn("readiness check failing", slog.String("check", c.name), slog.Bool("required", c.required),
			slog.String("error", clip(err.Error(), adminMaxCheckMessage)))
	case changed:
		a.log.Info("readiness check recovered", slog.String("check", c.name))
	}
}

type userSessionsReport struct {
	UserID   string             `json:"user_id"`
	Sessions []userSessionEntry `json:"sessions"`
	// TokensToday is the user's model tokens since 00:00 UTC on this
	// node; Budget is llm.budget.daily_tokens, left out when off.
	TokensToday int `json:"tokens_today"`
	Budget      int `json:"budget,omitempty"`
}

type userSessionEntry struct {
	SessionID  string  `json:"session_id"`
	State      string  `json:"state"`
	AgeSeconds float64 `json:"age_seconds"`
	Messages   int     `json:"messages"`
}

func (a *admin) userSessions(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	infos, err := a.users.UserSessions(id, adminRegistryTimeout)
	if err != nil {
		a.log.Warn("user sessions: registry did not answer", slog.String("error", err.Error()))
		writeAdminJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "registry did not answer in time"})
		return
	}
	spend, err := a.users.UserSpend(id, adminRegistryTimeout)
	if err != nil {
		a.log.Warn("user spend: model actor did not answer", slog.String("error", err.Error()))
		writeAdminJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "registry did not answer in time"})
		return
	}
	out := userSessionsReport{UserID: id, Sessions: make([]userSessionEntry, 0, len(infos)),
		TokensToday: spend.TokensToday, Budget: spend.Budget}
	now := time.Now()
	for _, s := range infos {
		out.Sessions = append(out.Sessions, userSessionEntry{SessionID: s.SessionID, State: s.State,
			AgeSeconds: roundTo(now.Sub(s.Opened).Seconds(), 3), Messages: s.Messages})
	}
	sort.Slice(out.Sessions, func(i, j int) bool { return out.Sessions[i].AgeSeconds > out.Sessions[j].AgeSeconds })
	writeAdminJSON(w, http.StatusOK, out)
}

type disconnectReport struct {
	UserID   string `json:"user_id"`
	Sessions int    `json:"sessions"` // sessions told to close on this node
	// Nodes is how many nodes of the fleet heard the revocation, this one
	// included (it closes its own sessions directly), with a fleet.
	Nodes *int64 `json:"nodes,omitempty"`
}

// disconnect closes a user's live sessions on this node with 1008
// "Session revoked". It ends sessions, it bans no one: the user may
// connect again at once, for example after their token is revoked
// upstream.
func (a *admin) disconnect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := store.ValidateUserID(id); err != nil {
		writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	n, err := a.users.Disconnect(id, adminRegistryTimeout)
	if err != nil {
		a.log.Warn("disconnect user: registry did not answer", slog.String("user", id), slog.String("error", err.Error()))
		writeAdminJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "registry did not answer in time"})
		return
	}
	a.log.Info("user sessions revoked", slog.String("user", id), slog.Int("sessions", n))
	report := disconnectReport{UserID: id, Sessions: n}
	if a.fleet != nil {
		ctx, cancel := context.WithTimeout(r.Context(), adminRegistryTimeout)
		defer cancel()
		nodes, err := a.fleet.Revoke(ctx, id)
		if err != nil {
			a.log.Warn("disconnect user: the fleet could not be told", slog.String("user", id), slog.String("error", err.Error()))
			writeAdminJSON(w, http.StatusBadGateway, map[string]any{"user_id": id, "sessions": n,
				"error": "sessions closed on this node only: the fleet's redis is unreachable"})
			return
		}
		report.Nodes = &nodes
	}
	writeAdminJSON(w, http.StatusOK, report)
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// clip cuts s to at most n characters, the last one an ellipsis when
// something was cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
