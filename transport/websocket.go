package transport

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/metrics"
)

// Sessions is what the WebSocket endpoint needs from the session runtime.
type Sessions interface {
	// Admit reserves room for a connection without blocking.
	Admit() error
	// Open starts the session for an admitted connection.
	Open(peer actors.Peer) actors.Handle
}

var _ Sessions = (*actors.Node)(nil)

// Options configures the WebSocket endpoint. Zero values take those of
// DefaultOptions.
type Options struct {
	Logger *slog.Logger

	// AllowedOrigins lists the browser origins (scheme://host[:port]) that
	// may connect. Requests without an Origin header (native apps) are
	// always accepted; an empty list refuses every browser; "*" allows all.
	AllowedOrigins []string
	Dev            bool // allow every origin

	MaxFrameBytes     int           // read limit for any frame
	ReadBufferSize    int           // per-connection read buffer (larger frames bypass it)
	MaxAuthFrameBytes int           // read limit before authentication
	FramesPerSecond   float64       // flood guard refill
	FrameBurst        int           // flood guard bucket
	MaxPendingBytes   int64         // outbound bytes queued before a client counts as stalled
	WriteTimeout      time.Duration // one frame's write
	PingInterval      time.Duration // protocol ping to idle clients
	Compression       bool          // negotiate permessage-deflate

	// MaxUnauthenticatedPerIP caps the connections from one client address
	// that have not authenticated yet; more upgrades get HTTP 429.
	MaxUnauthenticatedPerIP int
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (see resolveClient). Empty: the TCP peer is always the client.
	TrustedProxies []netip.Prefix
}

// DefaultOptions returns the endpoint's defaults, the only place they are
// written: NewServer fills every zero field from it, and the server's
// configuration takes its defaults from it.
func DefaultOptions() Options {
	return Options{
		Logger:        slog.New(slog.DiscardHandler),
		MaxFrameBytes: 64 << 10,
		// Every idle connection holds its read buffer, and chat frames are
		// small: 512 bytes instead of gws's 4 KiB saves 3.5 KiB a session
		// (an authenticate frame with a long token takes one more read),
		// and larger frames are read straight into their own buffer.
		ReadBufferSize:    512,
		MaxAuthFrameBytes: 8 << 10,
		FramesPerSecond:   20,
		FrameBurst:        40,
		MaxPendingBytes:   1 << 20,
		WriteTimeout:      10 * time.Second,
		PingInterval:      30 * time.Second,
		// Enough for an office or a carrier NAT behind one address; one
		// host alone cannot hold the node's unauthenticated slots.
		MaxUnauthenticatedPerIP: 64,
	}
}

// setDefaults fills the zero fields that DefaultOptions sets; the others
// (AllowedOrigins, Dev, Compression, TrustedProxies) are off when zero.
func (o *Options) setDefaults() {
	d := DefaultOptions()
	o.Logger = cmp.Or(o.Logger, d.Logger)
	o.MaxFrameBytes = cmp.Or(o.MaxFrameBytes, d.MaxFrameBytes)
	o.ReadBufferSize = cmp.Or(o.ReadBufferSize, d.ReadBufferSize)
	o.MaxAuthFrameBytes = cmp.Or(o.MaxAuthFrameBytes, d.MaxAuthFrameBytes)
	o.FramesPerSecond = cmp.Or(o.FramesPerSecond, d.FramesPerSecond)
	o.FrameBurst = cmp.Or(o.FrameBurst, d.FrameBurst)
	o.MaxPendingBytes = cmp.Or(o.MaxPendingBytes, d.MaxPendingBytes)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, d.WriteTimeout)
	o.PingInterval = cmp.Or(o.PingInterval, d.PingInterval)
	o.MaxUnauthenticatedPerIP = cmp.Or(o.MaxUnauthenticatedPerIP, d.MaxUnauthenticatedPerIP)
}

// Stats counts what the endpoint saw. Every field is an atomic.
type Stats struct {
	Upgrades       atomic.Int64 // connections upgraded
	UpgradeErrors  atomic.Int64 // failed handshakes
	OriginsRefused atomic.Int64
	PerIPRefused   atomic.Int64 // upgrades refused: too many unauthenticated connections from one address
	AcceptErrors   atomic.Int64 // listener accept failures, such as too many open files
	FramesIn       atomic.Int64
	FramesOut      atomic.Int64
	BytesIn        atomic.Int64
	BytesOut       atomic.Int64
	FloodDropped   atomic.Int64 // frames dropped by the flood guard
	SlowDropped    atomic.Int64 // connections dropped for not reading
	SilentDropped  atomic.Int64 // connections dropped for silence
	Live           atomic.Int64 // open sockets

	FrameSizeIn  metrics.Histogram // bytes per frame received
	FrameSizeOut metrics.Histogram // bytes per frame sent
}

// Server is the /ws/chat endpoint.
type Server struct {
	Stats Stats

	opts     Options
	log      *slog.Logger
	sessions Sessions
	upgrader *gws.Upgrader
	origins  map[string]bool
	anyOrig  bool
	perIP    *perAddress

	closed     atomic.Bool
	conns      sync.Map // *conn -> struct{}, for heartbeats
	refusals   logEvery // log lines about refused upgrades
	admissions logEvery // log lines about connections the node had no room for
	crowded    logEvery // log lines about addresses over MaxUnauthenticatedPerIP
	stop       chan struct{}
	done       chan struct{}
}

// NewServer builds the endpoint and starts its heartbeat goroutine, which
// Close stops.
func NewServer(sessions Sessions, opts Options) *Server {
	opts.setDefaults()
	s := &Server{opts: opts, log: opts.Logger, sessions: sessions, origins: make(map[string]bool),
		stop: make(chan struct{}), done: make(chan struct{}), refusals: logEvery{interval: rejectLogInterval},
		admissions: logEvery{interval: rejectLogInterval}, crowded: logEvery{interval: rejectLogInterval},
		perIP: newPerAddress(opts.MaxUnauthenticatedPerIP)}
	for _, o := range opts.AllowedOrigins {
		if o == "*" {
			s.anyOrig = true
		}
		s.origins[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	s.anyOrig = s.anyOrig || opts.Dev
	s.upgrader = gws.NewUpgrader(s, &gws.ServerOption{
		ReadMaxPayloadSize: opts.MaxFrameBytes,
		ReadBufferSize:     opts.ReadBufferSize,
		CheckUtf8Enabled:   true,
		ParallelEnabled:    false, // frames of one connection must stay in order
		Recovery:           gws.Recovery,
		Logger:             gwsLogger{opts.Logger},
		HandshakeTimeout:   5 * time.Second,
		NewSession:         func() gws.SessionStorage { return &conn{srv: s} },
		PermessageDeflate: gws.PermessageDeflate{
			Enabled:               opts.Compression,
			ServerContextTakeover: false,
			ClientContextTakeover: false,
		},
	})
	go s.heartbeat()
	return s
}

// ServeHTTP upgrades a request to a WebSocket. The URL's query string is
// never read or logged: tokens travel only in the first frame.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.closed.Load() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	client := resolveClient(r.RemoteAddr, r.Header, s.opts.TrustedProxies)
	remote := client.remote(r.RemoteAddr)
	if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(origin) {
		s.Stats.OriginsRefused.Add(1)
		s.refusals.log(s.log, slog.LevelInfo, "websocket origin refused", slog.String("remote", remote),
			slog.String("origin", clip(origin, maxLoggedValue)))
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	// Refused before the upgrade: a refused client costs no goroutine,
	// buffers or session, and one host cannot fill the node's
	// unauthenticated slots.
	if !s.perIP.acquire(client.ip) {
		s.Stats.PerIPRefused.Add(1)
		s.crowded.log(s.log, slog.LevelWarn, "websocket upgrade refused: too many unauthenticated connections from one address",
			slog.String("remote", remote), slog.Int("max", s.opts.MaxUnauthenticatedPerIP))
		http.Error(w, "too many unauthenticated connections from this address", http.StatusTooManyRequests)
		return
	}
	socket, err := s.upgrade(w, r, client)
	if err != nil {
		s.perIP.release(client.ip)
		s.Stats.UpgradeErrors.Add(1)
		s.log.Debug("websocket upgrade failed", slog.String("remote", remote), slog.String("error", err.Error()))
		return
	}
	s.Stats.Upgrades.Add(1)
	go socket.ReadLoop()
}

// upgrade hijacks the connection and hands gws the socket wrapped in a
// netConn, which enforces the write deadline and the first-frame limit.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, client clientAddr) (*gws.Conn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "websocket upgrade not supported", http.StatusInternalServerError)
		return nil, errors.New("response writer cannot hijack")
	}
	raw, brw, err := hj.Hijack()
	if err != nil {
		return nil, fmt.Errorf("hijack: %w", err)
	}
	// A client that sent frames before reading the 101 left them in the
	// HTTP server's buffer.
	var pre []byte
	if n := brw.Reader.Buffered(); n > 0 {
		pre, _ = brw.Reader.Peek(n)
		pre = append([]byte(nil), pre...)
	}
	nc := newNetConn(raw, s.opts.WriteTimeout, s.opts.MaxAuthFrameBytes, pre)
	socket, err := s.upgrader.UpgradeFromConn(nc, bufio.NewReaderSize(nc, s.opts.ReadBufferSize), r)
	if err != nil {
		return nil, err
	}
	c := socket.Session().(*conn)
	c.nc = nc
	c.client = client
	c.countedIP.Store(true) // from here on the conn releases the count
	nc.tooLarge = c.refuseOversized
	return socket, nil
}

func (s *Server) originAllowed(origin string) bool {
	if s.anyOrig {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return s.origins[strings.ToLower(u.Scheme+"://"+u.Host)]
}

// StopAccepting makes new upgrade requests fail with 503.
func (s *Server) StopAccepting() { s.closed.Store(true) }

// Close stops accepting and stops the heartbeat. Open connections are left
// to the sessions, which close them on shutdown.
func (s *Server) Close() {
	s.StopAccepting()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// heartbeat pings clients that have been silent for a ping interval and
// drops those silent for three: a peer that vanished without a FIN (a phone
// losing signal) would otherwise hold its session forever.
func (s *Server) heartbeat() {
	defer close(s.done)
	t := time.NewTicker(s.opts.PingInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.conns.Range(func(k, _ any) bool {
				k.(*conn).beat(now)
				return true
			})
		}
	}
}

// OnOpen admits the connection and starts its session.
func (s *Server) OnOpen(socket *gws.Conn) {
	c := socket.Session().(*conn)
	c.ws = socket
	// gws recovers panics only around OnMessage: a panic here would end
	// the process.
	defer c.recoverCallback("OnOpen")
	c.lastRead.Store(time.Now().UnixNano())
	c.flood = newFloodGuard(&s.opts)
	s.Stats.Live.Add(1)
	if err := s.sessions.Admit(); err != nil {
		// A full node refuses many connections at once: one line per
		// interval, the rest counted.
		s.admissions.log(s.log, slog.LevelWarn, "connection refused",
			slog.String("remote", c.remote()), slog.String("error", err.Error()))
		c.Close(actors.CodeNodeUnavailable)
		return
	}
	c.handle = s.sessions.Open(c)
	c.opened.Store(true) // publishes handle, to the heartbeat among others
	s.conns.Store(c, struct{}{})
}

// OnMessage decodes a frame and hands it to the session.
func (s *Server) OnMessage(socket *gws.Conn, m *gws.Message) {
	defer m.Close()
	c := socket.Session().(*conn)
	// Recovered here rather than by gws.Recovery, whose line could not say
	// which session failed.
	defer c.recoverCallback("OnMessage")
	c.lastRead.Store(time.Now().UnixNano())
	if !c.opened.Load() || c.closing.Load() {
		return
	}
	if m.Opcode != gws.OpcodeText {
		c.Close(codeBinaryFrame)
		return
	}
	b := m.Bytes()
	s.Stats.FramesIn.Add(1)
	s.Stats.BytesIn.Add(int64(len(b)))
	s.Stats.FrameSizeIn.Observe(uint64(len(b)))
	if len(b) > s.opts.MaxFrameBytes || (!c.authed.Load() && len(b) > s.opts.MaxAuthFrameBytes) {
		// The deflate extension can inflate a frame past the wire limit.
		c.Close(codeFrameTooLarge)
		return
	}
	if !c.allow(time.Now()) {
		s.Stats.FloodDropped.Add(1)
		return
	}
	c.handle.Send(decodeFrame(b)) // decodeFrame copies what it keeps
}

// OnClose tells the session its socket is gone.
func (s *Server) OnClose(socket *gws.Conn, err error) {
	c := socket.Session().(*conn)
	defer c.recoverCallback("OnClose")
	s.Stats.Live.Add(-1)
	s.conns.Delete(c)
	c.closing.Store(true)
	c.releaseIP() // closed before authenticating
	if !c.opened.Load() {
		return
	}
	code := int(c.sentCode.Load())
	var ce *gws.CloseError
	switch {
	case code != 0:
	case errors.As(err, &ce):
		code = int(ce.Code)
		if code == 0 {
			code = closeNoStatus // a close frame without a status code
		}
	default:
		code = closeAbnormal
	}
	c.handle.Send(&actors.Disconnected{CloseCode: code})
}

// OnPing answers a protocol ping with its payload (RFC 6455 section 5.5.3),
// queued behind the frames already being written, as every write is.
func (s *Server) OnPing(socket *gws.Conn, payload []byte) {
	c := socket.Session().(*conn)
	defer c.recoverCallback("OnPing")
	c.lastRead.Store(time.Now().UnixNano())
	echo := append([]byte(nil), payload...)
	socket.Async(func() { _ = socket.WritePong(echo) })
}

// OnPong notes that an idle client is still there.
func (s *Server) OnPong(socket *gws.Conn, _ []byte) {
	c := socket.Session().(*conn)
	defer c.recoverCallback("OnPong")
	c.lastRead.Store(time.Now().UnixNano())
}

// gwsLogger routes gws's own error logs to slog.
type gwsLogger struct{ log *slog.Logger }

func (l gwsLogger) Error(v ...any) { l.log.Error("websocket: " + fmt.Sprint(v...)) }
