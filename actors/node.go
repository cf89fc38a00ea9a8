package actors

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/wealthwarriors/wealthcoach/store"
)

// TokenVerifier checks the token of an authenticate frame and returns the
// user it names and when it expires (its exp). An error that has an
// Expired() bool method returning true is reported to the client as
// token_expired; any other error as invalid_token.
type TokenVerifier interface {
	Verify(token string) (userID string, expires time.Time, err error)
}

// AccountLoader loads a user and their profile in one call. It reports a
// missing user with an error wrapping store.ErrNotFound. It is the domain's
// interface, named here for the Options that take it.
type AccountLoader = store.AccountLoader

// ErrNodeFull is returned by Admit when the node is at its session cap or at
// its cap on connections still unauthenticated.
var ErrNodeFull = errors.New("node at capacity")

// Options configures a Node. Zero values take those of DefaultOptions.
type Options struct {
	Logger   *slog.Logger
	Verifier TokenVerifier // required
	Accounts AccountLoader // required

	AuthTimeout           time.Duration // time allowed for authenticate
	LoadTimeout           time.Duration // time allowed for the profile load
	MaxConnectionsPerUser int           // live sessions per user
	MaxSessions           int           // live sessions per node, any state
	MaxUnauthenticated    int           // sessions not yet authenticated
	MaxMessageChars       int           // chat message limit in characters
	MaxStashed            int           // frames held while authentication completes

	// ExpireSessions makes a session live no longer than its token (SPEC
	// 8.6): RefreshWarning before the token's exp the client is told
	// token_expiring, a new authenticate for the same user moves the end,
	// and TokenLeeway after exp the session closes with token_expired. Off,
	// a session lasts as long as its socket, as clients of protocol 1.0
	// expect.
	ExpireSessions bool
	RefreshWarning time.Duration
	TokenLeeway    time.Duration // the clock skew the verifier allows on exp; zero is valid

	// MaxFailures is how many panics a session survives within
	// FailureWindow before it is closed with 1011.
	MaxFailures   int
	FailureWindow time.Duration

	Chat ChatOptions

	// Journal keeps conversations: a session starts with the stored memory
	// of its user's current conversation, and each exchange that enters
	// memory is appended by the node's journal writer, JournalFlushInterval
	// after it (batching what comes meanwhile), with at most JournalQueue
	// exchanges waiting through a store outage. nil keeps memory per
	// session (history.persist off).
	Journal store.Journal
	// Audit, when set, receives one record per answer that reached a user
	// (SPEC 8.5), written by the journal writer with the conversation.
	Audit store.AuditLog
	// NodeID names this node in audit records; NewNode generates one when
	// empty.
	NodeID               string
	JournalFlushInterval time.Duration
	JournalQueue         int

	// Fleet, when set, makes the per-user connection cap, rate limit and
	// token budget fleet-wide (cluster.enabled); nil keeps them per node.
	Fleet Fleet

	// Notice is the disclosure sent in every connected frame; "" for none.
	Notice string

	// BeforeReceive, when set, is called with every message a session is
	// about to handle. It exists so tests can inject failures.
	BeforeReceive func(msg any)
}

// DefaultOptions returns the node's defaults, Chat's included, the only
// place they are written: NewNode fills every zero field from it, and the
// server's configuration takes its defaults from it.
func DefaultOptions() Options {
	return Options{
		Logger:                slog.New(slog.DiscardHandler),
		AuthTimeout:           30 * time.Second,
		LoadTimeout:           5 * time.Second,
		MaxConnectionsPerUser: 3,
		MaxSessions:           50_000,
		MaxUnauthenticated:    10_000,
		MaxMessageChars:       4000,
		MaxStashed:            8,
		RefreshWarning:        time.Minute,
		MaxFailures:           3,
		FailureWindow:         time.Minute,
		Chat:                  DefaultChatOptions(),
		JournalFlushInterval:  200 * time.Millisecond,
		JournalQueue:          10_000,
	}
}

// setDefaults fills the zero fields that DefaultOptions sets.
func (o *Options) setDefaults() {
	d := DefaultOptions()
	o.Logger = cmp.Or(o.Logger, d.Logger)
	o.AuthTimeout = cmp.Or(o.AuthTimeout, d.AuthTimeout)
	o.LoadTimeout = cmp.Or(o.LoadTimeout, d.LoadTimeout)
	o.MaxConnectionsPerUser = cmp.Or(o.MaxConnectionsPerUser, d.MaxConnectionsPerUser)
	o.MaxSessions = cmp.Or(o.MaxSessions, d.MaxSessions)
	o.MaxUnauthenticated = cmp.Or(o.MaxUnauthenticated, d.MaxUnauthenticated)
	o.MaxMessageChars = cmp.Or(o.MaxMessageChars, d.MaxMessageChars)
	o.MaxStashed = cmp.Or(o.MaxStashed, d.MaxStashed)
	o.RefreshWarning = cmp.Or(o.RefreshWarning, d.RefreshWarning)
	o.MaxFailures = cmp.Or(o.MaxFailures, d.MaxFailures)
	o.FailureWindow = cmp.Or(o.FailureWindow, d.FailureWindow)
	o.JournalFlushInterval = cmp.Or(o.JournalFlushInterval, d.JournalFlushInterval)
	o.JournalQueue = cmp.Or(o.JournalQueue, d.JournalQueue)
	o.Chat.setDefaults()
}

// Node is one server's actor system: the registry, the cache actor and every
// session.
type Node struct {
	opts     Options
	log      *slog.Logger
	system   *actor.ActorSystem
	root     *actor.RootContext
	stats    *Stats
	registry *actor.PID
	cache    *actor.PID
	journal  *actor.PID // nil when Options.Journal is
	session  *actor.Props

	// Admission counters: every live session, and those not yet
	// authenticated. Checked with atomics at upgrade so that an overloaded
	// node refuses work without touching an actor.
	live   atomic.Int64
	unauth atomic.Int64

	draining atomic.Bool
	sessions sync.Map // session id -> *actor.PID, for shutdown
	// resumable indexes the detached answers by id (answer id ->
	// *detachedAnswer), so that a resume goes straight to the session
	// holding the answer. Only the registry writes it.
	resumable sync.Map

	spends spendBook // today's spend of users whose model actor stopped

	// ctx bounds every goroutine the actors start; Stop cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	warnMu   sync.Mutex
	lastWarn map[string]time.Time

	kinds map[string]*KindStats // fixed at construction
	done  chan struct{}         // closed when watchKinds has returned

	// mailboxes runs every actor's mailbox; io runs the short I/O calls
	// actors start (profile loads, cache look-ups). Both are stopped by Stop.
	mailboxes *workerPool
	io        *workerPool
}

// NewNode starts the actor system with its registry and cache actors.
func NewNode(opts Options) (*Node, error) {
	if opts.Verifier == nil || opts.Accounts == nil {
		return nil, errors.New("actors: Verifier and Accounts are required")
	}
	opts.setDefaults()
	if opts.NodeID == "" {
		opts.NodeID = NewNodeID()
	}
	n := &Node{opts: opts, log: opts.Logger, stats: newStats(), lastWarn: make(map[string]time.Time)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.kinds = make(map[string]*KindStats, len(Kinds))
	for _, k := range Kinds {
		n.kinds[k] = new(KindStats)
	}
	procs := runtime.GOMAXPROCS(0)
	n.mailboxes = newWorkerPool(4*procs, 4096)
	n.io = newWorkerPool(max(16, 4*procs), 4096)
	// The actor system's own logger only gets warnings: at Info it reports
	// every dead letter and supervision event, which we log ourselves.
	sysLog := slog.New(levelFloor{opts.Logger.Handler(), slog.LevelWarn}).With("component", "actor-system")
	n.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return sysLog }))
	n.root = n.system.Root

	// One strategy value per kind: protoactor caches guardians by strategy.
	counted := func(kind string) *countingStrategy {
		return &countingStrategy{inner: actor.DefaultSupervisorStrategy(), kind: n.kinds[kind]}
	}
	var err error
	// The registry is the parent of the model actors, so its supervisor
	// strategy is theirs.
	n.registry, err = n.root.SpawnNamed(n.kinds[KindRegistry].props(func() actor.Actor { return newRegistry(n) },
		n.dispatcher(), actor.WithGuardian(counted(KindRegistry)), actor.WithSupervisor(counted(KindModel))), "registry")
	if err != nil {
		return nil, fmt.Errorf("spawn registry: %w", err)
	}
	n.cache, err = n.root.SpawnNamed(n.kinds[KindCache].props(func() actor.Actor { return newCacheActor(n) },
		n.dispatcher(), actor.WithGuardian(counted(KindCache))), "cache")
	if err != nil {
		return nil, fmt.Errorf("spawn cache actor: %w", err)
	}
	if opts.Journal != nil || opts.Audit != nil {
		n.journal, err = n.root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return newJournalWriter(n) },
			actor.WithDispatcher(n.dispatcher())), "journal")
		if err != nil {
			return nil, fmt.Errorf("spawn journal writer: %w", err)
		}
	}
	n.session = n.kinds[KindSession].props(func() actor.Actor { return &session{node: n} },
		n.dispatcher(), actor.WithGuardian(&sessionSupervisor{node: n}))
	n.done = make(chan struct{})
	go func() {
		defer close(n.done)
		n.watchKinds(n.ctx.Done())
	}()
	return n, nil
}

func (n *Node) dispatcher() actor.Dispatcher {
	return poolDispatcher{pool: n.mailboxes, throughput: 300}
}

// Stats returns the node's live counters.
func (n *Node) Stats() *Stats { return n.stats }

// Kind returns the counters of one actor kind (see Kinds), or nil.
func (n *Node) Kind(kind string) *KindStats { return n.kinds[kind] }

// Admit reserves room for one more session. It never blocks. A nil error
// must be followed by Open, which hands the reservation to the session.
func (n *Node) Admit() error {
	if n.draining.Load() {
		n.stats.Reject(CodeUnavailable)
		return fmt.Errorf("%w: draining for shutdown", ErrNodeFull)
	}
	if n.live.Add(1) > int64(n.opts.MaxSessions) {
		n.live.Add(-1)
		n.stats.Reject(CodeUnavailable)
		return fmt.Errorf("%w: %d sessions", ErrNodeFull, n.opts.MaxSessions)
	}
	if n.unauth.Add(1) > int64(n.opts.MaxUnauthenticated) {
		n.unauth.Add(-1)
		n.live.Add(-1)
		n.stats.Reject(CodeUnavailable)
		return fmt.Errorf("%w: %d unauthenticated connections", ErrNodeFull, n.opts.MaxUnauthenticated)
	}
	return nil
}

// Handle is the connection side's reference to its session.
type Handle struct {
	root *actor.RootContext
	pid  *actor.PID
	id   string
}

// SessionID is the session's id, as its log lines and the connected frame
// carry it.
func (h Handle) SessionID() string { return h.id }

// Send delivers one of the inbound messages (Authenticate, ChatMessage,
// Cancel, Ping, Invalid, Disconnected) to the session. It never blocks.
func (h Handle) Send(msg any) { h.root.Send(h.pid, msg) }

// Open spawns the session for a newly accepted connection. Call it only
// after a successful Admit.
func (n *Node) Open(peer Peer) Handle {
	id := newSessionID()
	pid := n.root.SpawnPrefix(n.session, "session-")
	// The peer arrives as the first user message rather than through the
	// producer, so that every session shares one Props value.
	n.root.Send(pid, &attach{peer: peer, id: id})
	n.sessions.Store(id, pid)
	return Handle{root: n.root, pid: pid, id: id}
}

// Live is the number of sessions, in any state.
func (n *Node) Live() int64 { return n.live.Load() }

// Drain makes every session answer new chat messages with shutting_down
// while the answers already streaming finish.
func (n *Node) Drain() { n.draining.Store(true) }

// Draining reports whether Drain was called.
func (n *Node) Draining() bool { return n.draining.Load() }

// WaitAnswers waits until no answer is streaming, or ctx ends.
func (n *Node) WaitAnswers(ctx context.Context) error {
	return waitUntil(ctx, func() bool { return n.stats.Streaming.Load() == 0 })
}

// CloseAll closes every session with CodeServerShutdown and waits until
// they have all stopped or ctx ends.
func (n *Node) CloseAll(ctx context.Context) error {
	n.sessions.Range(func(_, v any) bool {
		n.root.Send(v.(*actor.PID), &shutdownSession{})
		return true
	})
	return waitUntil(ctx, func() bool { return n.live.Load() == 0 })
}

// Stop shuts the actor system down. Sessions still open are not closed
// first: call CloseAll before.
func (n *Node) Stop() {
	n.cancel()
	<-n.done
	n.system.Shutdown()
	n.mailboxes.Close()
	n.io.Close()
}

// warnEvery logs a warning about a failing dependency at most once every
// ten seconds per topic, so that an outage does not flood the log.
func (n *Node) warnEvery(topic, msg string, attrs ...any) {
	n.warnMu.Lock()
	now := time.Now()
	if now.Sub(n.lastWarn[topic]) < 10*time.Second {
		n.warnMu.Unlock()
		return
	}
	n.lastWarn[topic] = now
	n.warnMu.Unlock()
	n.log.Warn(msg, attrs...)
}

func newSessionID() string {
	var b [9]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// levelFloor drops records below min, whatever the wrapped handler allows.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (l levelFloor) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.Handler.Enabled(ctx, lv)
}

func (l levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{l.Handler.WithAttrs(a), l.min}
}

func (l levelFloor) WithGroup(g string) slog.Handler {
	return levelFloor{l.Handler.WithGroup(g), l.min}
}
