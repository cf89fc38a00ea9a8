// Package cluster makes several nodes behave as one server through the
// Redis they share (SPEC 8.4): the per-user connection cap as leases in a
// sorted set per user, the model rate limit and the daily token budget as
// keys per user, a revocation channel every node listens on, and a
// heartbeat per node from which /stats draws the fleet.
//
// Redis is the only shared engine: no consensus, no gossip. When it cannot
// be reached the fleet is degraded: each node applies its own limits
// (actors.Fleet's contract), retries every second, and on the first
// success registers its live leases again.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// Options configures a Fleet. Client, NodeID and LeaseTTL are required.
type Options struct {
	// Client is the fleet's own: Run closes it when it returns.
	Client   *goredis.Client
	Prefix   string // before every key and channel, as the cache's (cache.prefix)
	NodeID   string
	LeaseTTL time.Duration
	Logger   *slog.Logger // default: discard

	// Local reports this node's live sessions for its heartbeat.
	Local func() (sessions int64)
	// Revoke closes a user's sessions on this node, for a revocation
	// another node published. It must not block for long.
	Revoke func(userID string)
	// Deliver hands resume traffic from another node to this node's
	// actors (actors.Node.Deliver). It must not block.
	Deliver func(*actors.RelayMessage)
}

// Fleet is this node's member of the fleet. Its methods are safe for
// concurrent use; Run does the periodic work and must be running.
type Fleet struct {
	o   Options
	rdb *goredis.Client
	log *slog.Logger

	mu       sync.Mutex
	leases   map[string]*lease    // by session id
	releases []lease              // to remove from Redis, oldest first
	view     View                 // the fleet as last read
	dead     map[string]time.Time // nodes whose heartbeat went stale, when seen so

	kick     chan struct{} // wakes Run for releases
	out      chan outbound // answer shares and relay messages, in order
	degraded atomic.Bool
	Stats    Stats
}

// Stats are the fleet's counters, for /stats and /metrics.
type Stats struct {
	// Fallbacks counts decisions (a lease, a model call) taken on the
	// node's own limits because Redis could not be asked.
	Fallbacks atomic.Int64
	// Errors counts failed Redis calls.
	Errors atomic.Int64
	// Refused counts leases refused because the user's fleet-wide cap
	// was full.
	Refused atomic.Int64
	// Dropped counts answer shares and relay messages not sent: Redis
	// unreachable, or the queue full.
	Dropped atomic.Int64
}

type lease struct {
	user, session string
	asking        bool // Lease has not returned yet
	released      bool // Unlease came while asking
}

var _ actors.Fleet = (*Fleet)(nil)

// errDegraded answers calls made while Redis is known to be unreachable,
// without waiting for a timeout on each.
var errDegraded = errors.New("cluster degraded: redis unreachable")

const (
	// renewBatch is how many lease renewals share one pipeline.
	renewBatch = 500
	// retryEvery is how often a degraded node tries Redis again.
	retryEvery = time.Second
	// callTimeout bounds every call of the periodic work.
	callTimeout = 2 * time.Second
	// deadKept is how long a dead node is remembered as such, longer than
	// any resume window its answers were shared for.
	deadKept = 30 * time.Minute
)

// New returns the node's member of the fleet; Run starts its work.
func New(o Options) (*Fleet, error) {
	if o.Client == nil || o.NodeID == "" || o.LeaseTTL <= 0 {
		return nil, errors.New("cluster: Client, NodeID and LeaseTTL are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Local == nil {
		o.Local = func() int64 { return 0 }
	}
	if o.Revoke == nil {
		o.Revoke = func(string) {}
	}
	if o.Deliver == nil {
		o.Deliver = func(*actors.RelayMessage) {}
	}
	return &Fleet{o: o, rdb: o.Client, log: o.Logger.With("component", "cluster"),
		leases: make(map[string]*lease), dead: make(map[string]time.Time), kick: make(chan struct{}, 1), out: make(chan outbound, outQueue)}, nil
}

// Keys. Those of one user share a hash tag, so that a script touching two
// of them runs on one Redis Cluster slot.
func (f *Fleet) leaseKey(user string) string { return f.o.Prefix + "lease:{user:" + user + "}" }
func (f *Fleet) rateKey(user string) string  { return f.o.Prefix + "rate:{user:" + user + "}" }
func (f *Fleet) nodesKey() string            { return f.o.Prefix + "nodes" }
func (f *Fleet) usersKey() string            { return f.o.Prefix + "users" }
func revokeChannel(prefix string) string     { return prefix + "revoke" }
func (f *Fleet) budgetKey(user string, day int64) string {
	return f.o.Prefix + "budget:{user:" + user + "}:" + strconv.FormatInt(day, 10)
}

// Degraded reports whether Redis is unreachable, the node on its own limits.
func (f *Fleet) Degraded() bool { return f.degraded.Load() }

// NodeID is this node's name in the fleet.
func (f *Fleet) NodeID() string { return f.o.NodeID }

// failed records a failed Redis call and marks the fleet degraded.
func (f *Fleet) failed(what string, err error) {
	f.Stats.Errors.Add(1)
	if !f.degraded.Swap(true) {
		f.log.Warn("redis unreachable: limits applied per node until it returns",
			slog.String("during", what), slog.String("error", err.Error()))
	}
}

// Lease implements actors.Fleet.
func (f *Fleet) Lease(ctx context.Context, userID, sessionID string, max int) (bool, []actors.PendingAnswer, error) {
	l := &lease{user: userID, session: sessionID, asking: true}
	f.mu.Lock()
	f.leases[sessionID] = l
	f.mu.Unlock()
	if f.degraded.Load() {
		// Granted on the node's cap; registered with Redis on rejoin.
		f.Stats.Fallbacks.Add(1)
		f.settle(l, true)
		return false, nil, errDegraded
	}
	res, err := leaseScript.Run(ctx, f.rdb, []string{f.leaseKey(userID), f.answersKey(userID)},
		sessionID, f.o.LeaseTTL.Milliseconds(), max).Slice()
	if err != nil {
		if ctx.Err() == nil {
			f.failed("lease", err)
		}
		f.Stats.Fallbacks.Add(1)
		f.settle(l, true)
		return false, nil, fmt.Errorf("lease for user %s: %w", userID, err)
	}
	granted := len(res) > 0 && res[0] == int64(1)
	if !granted {
		f.Stats.Refused.Add(1)
		f.settle(l, false)
		return false, nil, nil
	}
	f.settle(l, true)
	if len(res) <= 2 {
		return true, nil, nil
	}
	return true, f.pendingFrom(res[2:]), nil
}

// settle ends Lease's asking: a lease not granted is forgotten, one whose
// session ended meanwhile is released at once.
func (f *Fleet) settle(l *lease, held bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l.asking = false
	switch {
	case !held:
		delete(f.leases, l.session)
	case l.released:
		delete(f.leases, l.session)
		f.releaseLocked(*l)
	}
}

// Unlease implements actors.Fleet.
func (f *Fleet) Unlease(userID, sessionID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.leases[sessionID]
	if l == nil || l.user != userID {
		return
	}
	if l.asking {
		l.released = true
		return
	}
	delete(f.leases, sessionID)
	f.releaseLocked(*l)
}

func (f *Fleet) releaseLocked(l lease) {
	f.releases = append(f.releases, l)
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Gate implements actors.Fleet.
func (f *Fleet) Gate(ctx context.Context, userID string, l actors.GateLimits) (actors.GateResult, error) {
	if f.degraded.Load() {
		f.Stats.Fallbacks.Add(1)
		return actors.GateResult{}, errDegraded
	}
	if l.PerMinute <= 0 || l.Burst <= 0 {
		return actors.GateResult{}, fmt.Errorf("gate for user %s: rate %v a minute, burst %d", userID, l.PerMinute, l.Burst)
	}
	day := utcDay(time.Now())
	res, err := gateScript.Run(ctx, f.rdb, []string{f.rateKey(userID), f.budgetKey(userID, day)},
		l.Burst, 60/l.PerMinute, l.DailyTokens).Slice()
	if err != nil {
		if ctx.Err() == nil {
			f.failed("rate limit", err)
			f.Stats.Fallbacks.Add(1)
		}
		return actors.GateResult{}, fmt.Errorf("gate for user %s: %w", userID, err)
	}
	if len(res) != 3 {
		return actors.GateResult{}, fmt.Errorf("gate for user %s: script answered %v", userID, res)
	}
	allowed, _ := res[0].(int64)
	over, _ := res[1].(int64)
	wait, _ := res[2].(string)
	secs, _ := strconv.ParseFloat(wait, 64)
	return actors.GateResult{Allowed: allowed == 1, OverBudget: over == 1,
		RetryAfter: time.Duration(math.Ceil(secs * float64(time.Second)))}, nil
}

// Spend implements actors.Fleet: the day's count lives until an hour past
// its end, so a late reader still finds it.
func (f *Fleet) Spend(ctx context.Context, userID string, tokens int, now time.Time) error {
	if f.degraded.Load() {
		f.Stats.Fallbacks.Add(1)
		return errDegraded
	}
	day := utcDay(now)
	key := f.budgetKey(userID, day)
	_, err := f.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.IncrBy(ctx, key, int64(tokens))
		p.ExpireAt(ctx, key, time.Unix((day+1)*86400+3600, 0))
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			f.failed("budget", err)
		}
		return fmt.Errorf("spend of user %s: %w", userID, err)
	}
	return nil
}

// utcDay is the UTC day t falls on, as days since the Unix epoch.
func utcDay(t time.Time) int64 { return int64(math.Floor(float64(t.Unix()) / 86400)) }

// Revoke publishes a revocation of userID's sessions to every node, which
// all but this one act on, and returns how many nodes heard it, this one
// included.
func (f *Fleet) Revoke(ctx context.Context, userID string) (int64, error) {
	return publishRevoke(ctx, f.rdb, f.o.Prefix, f.o.NodeID, userID)
}

// PublishRevoke tells every node of the fleet on rdb to close userID's
// sessions, for commands that run beside the fleet (users disable). It
// returns how many nodes heard it.
func PublishRevoke(ctx context.Context, rdb *goredis.Client, prefix, userID string) (int64, error) {
	return publishRevoke(ctx, rdb, prefix, "", userID)
}

func publishRevoke(ctx context.Context, rdb *goredis.Client, prefix, from, userID string) (int64, error) {
	n, err := rdb.Publish(ctx, revokeChannel(prefix), from+"\n"+userID).Result()
	if err != nil {
		return 0, fmt.Errorf("publish revocation of user %s: %w", userID, err)
	}
	return n, nil
}

// View is the fleet as this node last read it, for /stats.
type View struct {
	Enabled  bool       `json:"enabled"`
	NodeID   string     `json:"node_id"`
	Degraded bool       `json:"degraded"`
	Nodes    []NodeView `json:"nodes"`
	Sessions int64      `json:"sessions"` // over the live nodes
	Users    int64      `json:"users"`    // distinct users holding a lease
	// Leases are this node's sessions holding a fleet slot.
	Leases    int   `json:"leases"`
	Fallbacks int64 `json:"fallbacks"`
	Errors    int64 `json:"errors"`
	Refused   int64 `json:"refused"`
	// Dropped are answer shares and resume messages not sent.
	Dropped int64 `json:"dropped"`
}

// NodeView is one live node, from its heartbeat.
type NodeView struct {
	NodeID   string    `json:"node_id"`
	Sessions int64     `json:"sessions"`
	LastSeen time.Time `json:"last_seen"`
}

// heartbeat is what a node writes of itself.
type heartbeat struct {
	Sessions int64 `json:"sessions"`
	SeenMS   int64 `json:"seen_ms"`
}

// Report returns the fleet view with the counters as they are now.
func (f *Fleet) Report() View {
	f.mu.Lock()
	v := f.view
	v.Nodes = append([]NodeView(nil), v.Nodes...)
	v.Leases = len(f.leases)
	f.mu.Unlock()
	v.Enabled, v.NodeID, v.Degraded = true, f.o.NodeID, f.degraded.Load()
	v.Fallbacks, v.Errors, v.Refused = f.Stats.Fallbacks.Load(), f.Stats.Errors.Load(), f.Stats.Refused.Load()
	v.Dropped = f.Stats.Dropped.Load()
	return v
}

// Run does the fleet's periodic work until ctx ends: it renews this node's
// leases and writes its heartbeat every third of the lease, releases
// leases as sessions end, and hands revocations from other nodes to
// Options.Revoke. On return it has released every lease of the node and
// removed its heartbeat, so that a node that stops cleanly frees its slots
// at once; one that dies frees them within the lease.
func (f *Fleet) Run(ctx context.Context) {
	sub := f.rdb.Subscribe(ctx, revokeChannel(f.o.Prefix), nodeChannel(f.o.Prefix, f.o.NodeID))
	defer sub.Close()
	messages := sub.Channel()
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		f.write(ctx)
	}()

	f.tick(ctx)
	every := f.o.LeaseTTL / 3
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-writing
			f.leave()
			_ = f.rdb.Close()
			return
		case <-f.kick:
			f.flushReleases(ctx)
		case m, ok := <-messages:
			switch {
			case !ok:
			case m.Channel == revokeChannel(f.o.Prefix):
				f.revoked(m.Payload)
			default:
				f.relayed(m.Payload)
			}
		case <-t.C:
			f.tick(ctx)
			if f.degraded.Load() {
				t.Reset(min(every, retryEvery))
			} else {
				t.Reset(every)
			}
		}
	}
}

func (f *Fleet) revoked(payload string) {
	from, user, ok := strings.Cut(payload, "\n")
	if !ok || from == f.o.NodeID || user == "" {
		return
	}
	f.log.Info("revocation from the fleet", slog.String("user", user), slog.String("from", from))
	f.o.Revoke(user)
}

// tick renews the leases, writes the heartbeat and reads the fleet. Any
// failure leaves the fleet degraded; the first success after one rejoins,
// and the renewal that goes with it registers the leases Redis lost.
func (f *Fleet) tick(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	f.flushReleases(ctx)
	if err := f.renew(ctx); err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			f.failed("lease renewal", err)
		}
		return
	}
	if err := f.beat(ctx); err != nil {
		f.failed("heartbeat", err)
		return
	}
	if f.degraded.Swap(false) {
		f.log.Info("redis reachable again: fleet limits restored")
	}
}

// flushReleases removes the released leases from Redis, in one pipeline.
// A failure keeps them for the next try; a lease left behind expires.
func (f *Fleet) flushReleases(ctx context.Context) {
	f.mu.Lock()
	rel := f.releases
	f.releases = nil
	f.mu.Unlock()
	if len(rel) == 0 {
		return
	}
	if f.degraded.Load() {
		f.requeue(rel)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := f.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, l := range rel {
			p.ZRem(ctx, f.leaseKey(l.user), l.session)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			f.failed("lease release", err)
		}
		f.requeue(rel)
	}
}

func (f *Fleet) requeue(rel []lease) {
	f.mu.Lock()
	f.releases = append(rel, f.releases...)
	f.mu.Unlock()
}

// renew extends every lease of the node, renewBatch to a pipeline.
func (f *Fleet) renew(ctx context.Context) error {
	f.mu.Lock()
	held := make([]lease, 0, len(f.leases))
	for _, l := range f.leases {
		if !l.asking {
			held = append(held, *l)
		}
	}
	f.mu.Unlock()
	if err := renewScript.Load(ctx, f.rdb).Err(); err != nil {
		return fmt.Errorf("load renewal script: %w", err)
	}
	ttl := f.o.LeaseTTL.Milliseconds()
	for start := 0; start < len(held); start += renewBatch {
		batch := held[start:min(start+renewBatch, len(held))]
		_, err := f.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, l := range batch {
				// EvalSha, not Run: a pipeline cannot fall back on
				// NOSCRIPT, so the script was loaded just before.
				renewScript.EvalSha(ctx, p, []string{f.leaseKey(l.user)}, l.session, ttl)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("renew %d leases: %w", len(batch), err)
		}
	}
	return f.beatUsers(ctx, held)
}

// beatUsers keeps the fleet's set of users with a lease, each scored with
// when this node last vouched for them, for the distinct count.
func (f *Fleet) beatUsers(ctx context.Context, held []lease) error {
	nowMS := time.Now().UnixMilli()
	users := make(map[string]bool, len(held))
	for _, l := range held {
		users[l.user] = true
	}
	list := make([]goredis.Z, 0, len(users))
	for u := range users {
		list = append(list, goredis.Z{Score: float64(nowMS + f.o.LeaseTTL.Milliseconds()), Member: u})
	}
	for start := 0; start < len(list); start += renewBatch {
		if err := f.rdb.ZAdd(ctx, f.usersKey(), list[start:min(start+renewBatch, len(list))]...).Err(); err != nil {
			return fmt.Errorf("fleet users: %w", err)
		}
	}
	return nil
}

// beat writes this node's heartbeat and reads the fleet's in one
// pipeline; nodes silent for two leases are dropped from it.
func (f *Fleet) beat(ctx context.Context) error {
	now := time.Now()
	hb, _ := json.Marshal(heartbeat{Sessions: f.o.Local(), SeenMS: now.UnixMilli()})
	var all *goredis.MapStringStringCmd
	var users *goredis.IntCmd
	_, err := f.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, f.nodesKey(), f.o.NodeID, hb)
		all = p.HGetAll(ctx, f.nodesKey())
		p.ZRemRangeByScore(ctx, f.usersKey(), "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		users = p.ZCard(ctx, f.usersKey())
		return nil
	})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	var v View
	var dead []string
	for id, raw := range all.Val() {
		var h heartbeat
		if json.Unmarshal([]byte(raw), &h) != nil || now.Sub(time.UnixMilli(h.SeenMS)) > 2*f.o.LeaseTTL {
			dead = append(dead, id)
			continue
		}
		v.Nodes = append(v.Nodes, NodeView{NodeID: id, Sessions: h.Sessions, LastSeen: time.UnixMilli(h.SeenMS).UTC()})
		v.Sessions += h.Sessions
	}
	sort.Slice(v.Nodes, func(i, j int) bool { return v.Nodes[i].NodeID < v.Nodes[j].NodeID })
	v.Users = users.Val()
	f.mu.Lock()
	f.view = v
	for _, n := range v.Nodes {
		delete(f.dead, n.NodeID) // back, under the same name
	}
	for _, id := range dead {
		f.dead[id] = now
	}
	for id, at := range f.dead {
		if now.Sub(at) > deadKept {
			delete(f.dead, id)
		}
	}
	f.mu.Unlock()
	if len(dead) > 0 {
		if err := f.rdb.HDel(ctx, f.nodesKey(), dead...).Err(); err != nil {
			return fmt.Errorf("forget dead nodes: %w", err)
		}
	}
	return nil
}

// leave releases every lease of the node and removes its heartbeat, with a
// context of its own: the one Run was given has ended.
func (f *Fleet) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	f.mu.Lock()
	rel := f.releases
	for _, l := range f.leases {
		rel = append(rel, *l)
	}
	f.releases, f.leases = nil, make(map[string]*lease)
	f.mu.Unlock()
	_, err := f.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, l := range rel {
			p.ZRem(ctx, f.leaseKey(l.user), l.session)
		}
		p.HDel(ctx, f.nodesKey(), f.o.NodeID)
		return nil
	})
	if err != nil {
		f.log.Warn("leaving the fleet: leases left to expire", slog.Int("leases", len(rel)), slog.String("error", err.Error()))
	}
}
