package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/cluster"
	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport"
	"github.com/wealthwarriors/wealthcoach/transport/auth"
)

// hooks let tests observe and steer a server run by Main.
type hooks struct {
	ready    func(publicAddr, adminAddr string) // called once both listeners are up
	node     func(*actors.Options)              // adjusts the node's options
	accounts func(actors.AccountLoader) actors.AccountLoader
	http     func(public, admin *http.Server) // adjusts the listeners' timeouts
	journal  func(store.Journal) store.Journal
	// tlsReload is how often the TLS files are polled; 0 is the production
	// transport.DefaultCertReloadInterval.
	tlsReload time.Duration
}

func (m *Main) serve(ctx context.Context, args []string) error {
	fs, common := m.flagSet("serve")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, source, err := m.loadConfig(*common)
	if err != nil {
		return err
	}
	log := newLogger(cfg, m.Stderr)
	log.Info("starting", slog.String("config", source), slog.Bool("dev", cfg.Dev),
		slog.String("store", cfg.Store.Driver), slog.String("cache", cfg.Cache.Driver),
		slog.String("llm", cfg.LLMProvider()))

	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	if cfg.Store.Driver == "sqlite" {
		if err := st.SeedDemo(ctx); err != nil {
			return fmt.Errorf("seed demo user: %w", err)
		}
	}
	srv, err := m.newServer(cfg, log, st)
	if err != nil {
		return err
	}
	return srv.run(ctx, m)
}

// server is one running node: its listeners, its actors and its store.
type server struct {
	// stopAdmin ends the admin handler's background work (the history
	// sampler) once its listener has shut down.
	stopAdmin context.CancelFunc
	cfg       config.Config
	log       *slog.Logger
	node      *actors.Node
	ws        *transport.Server
	store     appStore
	cache     appCache
	fleet     *cluster.Fleet // nil unless cluster.enabled
	public    *http.Server
	admin     *http.Server
}

func (m *Main) newServer(cfg config.Config, log *slog.Logger, st appStore) (*server, error) {
	proxies, err := transport.ParseTrustedProxies(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("server.trusted_proxies: %w", err)
	}
	node, cache, fleet, err := m.newNode(cfg, log, st)
	if err != nil {
		return nil, err
	}
	ws := transport.NewServer(node, transport.Options{
		Logger:            log,
		AllowedOrigins:    cfg.Server.AllowedOrigins,
		Dev:               cfg.Dev,
		MaxFrameBytes:     cfg.Limits.MaxFrameBytes,
		MaxAuthFrameBytes: cfg.Limits.MaxAuthFrameBytes,
		FramesPerSecond:   float64(cfg.Limits.FramesPerSecond),
		FrameBurst:        cfg.Limits.FrameBurst,
		MaxPendingBytes:   int64(cfg.Limits.MaxPendingBytes),
		WriteTimeout:      cfg.Server.WriteTimeout,
		PingInterval:      cfg.Server.PingInterval,
		Compression:       cfg.Server.Compression,
		// Counted per client address: the peer's, or the one a trusted proxy forwarded.
		MaxUnauthenticatedPerIP: cfg.Limits.MaxUnauthenticatedPerIP,
		TrustedProxies:          proxies,
	})
	s := &server{cfg: cfg, log: log, node: node, ws: ws, store: st, cache: cache, fleet: fleet}
	mux := http.NewServeMux()
	mux.Handle("/ws/chat", ws)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not found: the chat endpoint is /ws/chat", http.StatusNotFound)
	})
	// Without these an idle keep-alive connection is held forever, and
	// enough of them exhaust the open files. Upgraded sockets are
	// hijacked, so the timeouts stop applying to them.
	s.public = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 5 * time.Second,
		ErrorLog: transport.HTTPErrorLog(log, "chat", &ws.Stats.AcceptErrors)}
	// No WriteTimeout on the admin listener: /debug/pprof/profile streams
	// for as long as it was asked to.
	s.admin = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		IdleTimeout: 60 * time.Second, ErrorLog: transport.HTTPErrorLog(log, "admin", &ws.Stats.AcceptErrors)}
	if m.hooks.http != nil {
		m.hooks.http(s.public, s.admin)
	}
	return s, nil
}

// newNode builds the actor system with its verifier, store, model and
// cache, and its member of the fleet when cluster.enabled is on.
func (m *Main) newNode(cfg config.Config, log *slog.Logger, st appStore) (*actors.Node, appCache, *cluster.Fleet, error) {
	vopts, err := verifierOptions(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	verifier, err := auth.NewVerifier(vopts)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("auth: %w", err)
	}
	var accounts actors.AccountLoader = st
	if m.hooks.accounts != nil {
		accounts = m.hooks.accounts(accounts)
	}
	// Retries happen inside the model client, which exists before the node
	// whose counter they bump; no request runs before node is set.
	var node *actors.Node
	chat, err := chatOptions(cfg, log, func() { node.Stats().LLMRetries.Add(1) })
	if err != nil {
		return nil, nil, nil, err
	}
	cache, err := openCache(cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	nodeID := cmp.Or(cfg.Cluster.NodeID, actors.NewNodeID())
	fleet, err := newFleet(cfg, log, nodeID, &node)
	if err != nil {
		return nil, nil, nil, err
	}
	chat.Cache = cache
	opts := actors.Options{
		Logger:                log,
		Verifier:              verifier,
		Accounts:              accounts,
		AuthTimeout:           cfg.Auth.Timeout,
		ExpireSessions:        cfg.Auth.ExpireSessions,
		RefreshWarning:        cfg.Auth.RefreshWarning,
		TokenLeeway:           cfg.Auth.Leeway,
		MaxConnectionsPerUser: cfg.Limits.MaxConnectionsPerUser,
		MaxSessions:           cfg.Limits.MaxSessions,
		MaxUnauthenticated:    cfg.Limits.MaxUnauthenticated,
		MaxMessageChars:       cfg.Limits.MaxMessageChars,
		Chat:                  chat,
		JournalFlushInterval:  cfg.History.FlushInterval,
		JournalQueue:          cfg.History.Queue,
		Notice:                cfg.Coach.Notice,
		NodeID:                nodeID,
	}
	if fleet != nil {
		opts.Fleet = fleet
	}
	if cfg.History.Persist {
		opts.Journal = st
		if m.hooks.journal != nil {
			opts.Journal = m.hooks.journal(st)
		}
	}
	if cfg.Audit.Enabled {
		opts.Audit = st
	}
	if m.hooks.node != nil {
		m.hooks.node(&opts)
	}
	node, err = actors.NewNode(opts)
	return node, cache, fleet, err
}

// run serves until ctx ends, then shuts down gracefully: stop accepting,
// let answers in flight finish up to shutdown.drain_timeout, close every
// session with 1001.
func (s *server) run(ctx context.Context, m *Main) error {
	pubLn, scheme, stopTLS, err := s.listenPublic(m)
	if err != nil {
		return err
	}
	defer stopTLS()
	admLn, err := net.Listen("tcp", s.cfg.Admin.Listen)
	if err != nil {
		pubLn.Close()
		return fmt.Errorf("admin.listen: %w", err)
	}
	errc := make(chan error, 2)
	go func() { errc <- serveHTTP(s.public, pubLn) }()
	go func() { errc <- serveHTTP(s.admin, admLn) }()
	pruneCtx, stopPruning := context.WithCancel(ctx)
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		audited := make(chan struct{})
		go func() { defer close(audited); s.pruneAudit(pruneCtx) }()
		s.pruneHistory(pruneCtx)
		<-audited
	}()
	defer func() { stopPruning(); <-pruned }()
	if s.fleet != nil {
		fleetCtx, leave := context.WithCancel(context.Background())
		left := make(chan struct{})
		go func() { defer close(left); s.fleet.Run(fleetCtx) }()
		// Deferred before shutdown runs, so it runs after: the fleet
		// outlives the sessions, whose slots it releases as they close,
		// then releases the rest and leaves.
		defer func() { leave(); <-left }()
	}
	s.log.Info("listening", slog.String("chat", scheme+"://"+pubLn.Addr().String()+"/ws/chat"),
		slog.String("admin", "http://"+admLn.Addr().String()))
	if s.cfg.Dev {
		s.printDevHelp(m, scheme+"://"+pubLn.Addr().String()+"/ws/chat")
	}
	if m.hooks.ready != nil {
		m.hooks.ready(pubLn.Addr().String(), admLn.Addr().String())
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
		s.log.Error("listener failed", slog.String("error", err.Error()))
	}
	s.shutdown()
	return err
}

// listenPublic opens the public listener: wss when server.tls_cert_file is
// set, ws otherwise. stop ends the certificate watcher; call it once the
// listener is closed.
func (s *server) listenPublic(m *Main) (ln net.Listener, scheme string, stop func(), err error) {
	ln, err = net.Listen("tcp", s.cfg.Server.Listen)
	if err != nil {
		return nil, "", nil, fmt.Errorf("server.listen: %w", err)
	}
	if s.cfg.Server.TLSCertFile == "" {
		return ln, "ws", func() {}, nil
	}
	certs, err := transport.NewCertReloader(s.cfg.Server.TLSCertFile, s.cfg.Server.TLSKeyFile, m.hooks.tlsReload, s.log)
	if err != nil {
		ln.Close()
		return nil, "", nil, fmt.Errorf("server.tls_cert_file: %w", err)
	}
	return tls.NewListener(ln, certs.TLSConfig()), "wss", certs.Close, nil
}

// pruneHistory deletes the messages older than history.retention, at start
// and then hourly, until ctx ends. A retention of 0 keeps everything.
func (s *server) pruneHistory(ctx context.Context) {
	keep := s.cfg.History.Retention
	if keep <= 0 || !s.cfg.History.Persist {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := s.store.PruneMessages(pctx, time.Now().Add(-keep))
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("history retention: prune failed", slog.String("error", err.Error()))
		case n > 0:
			s.log.Info("history retention: pruned", slog.Int64("messages", n), slog.Duration("older_than", keep))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneAudit deletes the audit records older than audit.retention, at
// start and then hourly, until ctx ends, re-anchoring each chain so that
// audit verify still passes. A retention of 0 keeps everything.
func (s *server) pruneAudit(ctx context.Context) {
	keep := s.cfg.Audit.Retention
	if keep <= 0 || !s.cfg.Audit.Enabled {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := s.store.PruneAudit(pctx, time.Now().Add(-keep))
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("audit retention: prune failed", slog.String("error", err.Error()))
		case n > 0:
			s.log.Info("audit retention: pruned", slog.Int64("records", n), slog.Duration("older_than", keep))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func serveHTTP(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *server) shutdown() {
	start := time.Now()
	s.log.Info("shutting down", slog.Int64("sessions", s.node.Live()),
		slog.Int64("streaming", s.node.Stats().Streaming.Load()))
	s.ws.StopAccepting()
	s.node.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = s.public.Shutdown(ctx) // closes the listener; upgraded sockets are the sessions'
	cancel()

	drainEnd := time.Now().Add(s.cfg.Shutdown.DrainTimeout)
	drain, cancel := context.WithDeadline(context.Background(), drainEnd)
	defer cancel()
	if s.node.WaitAnswers(drain) != nil {
		s.log.Warn("drain timeout: closing sessions with answers still streaming",
			slog.Int64("streaming", s.node.Stats().Streaming.Load()))
	}
	closing, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := s.node.CloseAll(closing); err != nil {
		s.log.Warn("sessions still open after close", slog.Int64("sessions", s.node.Live()))
	}
	// Every exchange answered is stored before exit, within what is left
	// of the drain (at least a few seconds: the sessions just closed).
	flush, cancel3 := context.WithTimeout(context.Background(), max(time.Until(drainEnd), 3*time.Second))
	defer cancel3()
	if err := s.node.FlushJournal(flush); err != nil {
		s.log.Warn("conversation writes still queued at exit", slog.Int64("exchanges", s.node.Stats().HistoryQueued.Load()))
	}
	s.ws.Close()
	_ = s.admin.Shutdown(closing)
	if s.stopAdmin != nil {
		s.stopAdmin()
	}
	s.node.Stop()
	if c, ok := s.cache.(io.Closer); ok {
		_ = c.Close()
	}
	s.log.Info("stopped", slog.Duration("took", time.Since(start)))
}

func (s *server) printDevHelp(m *Main, chatURL string) {
	token, err := auth.Mint(auth.MintOptions{Secret: []byte(s.cfg.Auth.JWTSecret), UserID: store.DemoUserID,
		UserClaim: s.cfg.Auth.UserClaim, Issuer: s.cfg.Auth.Issuer, Audience: s.cfg.Auth.Audience, TTL: 24 * time.Hour})
	if err != nil || !usesHMAC(s.cfg.Auth.Algorithms) {
		return
	}
	fmt.Fprintf(m.Stdout, `
Dev mode. Chat endpoint: %s
Token for the demo user (valid 24h):
  %s
Talk to it:   go run ./cmd/wealthcoach chat --dev
Or any WebSocket client: connect, then send {"type":"authenticate","token":"<token>"}

`, chatURL, token)
}
