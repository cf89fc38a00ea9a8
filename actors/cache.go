package actors

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ResponseCache stores complete answers by cache key.
type ResponseCache interface {
	// Get returns the answer stored under key; ok is false on a miss.
	Get(ctx context.Context, key string) (answer string, ok bool, err error)
	Set(ctx context.Context, key, answer string, ttl time.Duration) error
}

// cacheKeyPrefix versions the key format: changing how keys are built
// means changing the prefix, so old entries are never read as new ones.
const cacheKeyPrefix = "wc:answer:v1:"

// cacheKey hashes the complete model request. Every field goes in with its
// length, so no two different requests can produce the same byte stream.
// With the user scope the user id is hashed too: no user can learn from a
// cached flag what another asked. Sessions compute it themselves (it is
// pure and costs ~10 µs) so that hashing never queues on the cache actor.
func cacheKey(scopeUser string, req *ModelRequest) string {
	size := len(promptVersion) + len(scopeUser) + len(req.Model) + 16*len(req.Messages) + 64
	for _, m := range req.Messages {
		size += len(m.Role) + len(m.Content)
	}
	b := make([]byte, 0, size)
	put := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	put(promptVersion)
	put(scopeUser)
	put(req.Model)
	b = binary.BigEndian.AppendUint64(b, uint64(req.MaxTokens))
	b = binary.BigEndian.AppendUint64(b, uint64(math.Float32bits(req.Temperature)))
	last := len(req.Messages) - 1
	for i, m := range req.Messages {
		put(m.Role)
		if i == last {
			put(normalize(m.Content))
		} else {
			put(m.Content)
		}
	}
	sum := sha256.Sum256(b)
	return cacheKeyPrefix + hex.EncodeToString(sum[:])
}

// cacheGet asks the cache actor for key; the answer goes to replyTo.
type cacheGet struct {
	seq     uint64
	key     string
	replyTo *actor.PID
}

// cacheResult answers a cacheGet. On a hit answer is the text to send; on
// a miss the asker leads: it must end with cachePut or cacheAbandon.
type cacheResult struct {
	seq    uint64
	key    string
	answer string
	hit    bool
}

// cachePut stores the answer a leading session finished with stop, and
// hands it to the sessions waiting on the same key.
type cachePut struct {
	key    string
	answer string
	from   *actor.PID
}

// cacheAbandon tells the cache actor a leading session will store no
// answer for key (cancelled, failed, cut, refused).
type cacheAbandon struct {
	key  string
	from *actor.PID
}

// Results of the I/O the cache actor started, back in its mailbox.
type (
	cacheLookedUp struct {
		key    string
		answer string
		hit    bool
		err    error
	}
	cacheStored     struct{ err error }
	cacheFlightOver struct {
		key string
		gen uint64
	}
)

// flight is one key being looked up or answered. The first asker that
// misses leads: it asks the model, and the others asking the same key
// meanwhile wait for its answer instead of calling the model too.
type flight struct {
	gen       uint64
	lookingUp bool       // the store is being asked
	leader    *actor.PID // the session answering it, once the look-up missed
	waiters   []cacheWaiter
	deadline  *time.Timer // armed once someone waits on the leader
}

type cacheWaiter struct {
	seq uint64
	pid *actor.PID
}

// cacheActor owns the response cache: the look-ups and misses in flight,
// and a circuit breaker on the cache store. Look-ups and stores run on the
// node's I/O workers, bounded by the node's context and the cache timeout;
// their results come back as messages, so a slow cache never stalls the
// mailbox, and an open breaker means no wait at all.
type cacheActor struct {
	node    *Node
	flights map[string]*flight
	gen     uint64
	breaker breaker
}

func newCacheActor(n *Node) *cacheActor {
	o := n.opts.Chat
	return &cacheActor{node: n, flights: make(map[string]*flight),
		breaker: breaker{threshold: o.CacheBreakerFailures, cooldown: o.CacheBreakerCooldown}}
}

func (a *cacheActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *cacheGet:
		a.get(c, m)
	case *cacheLookedUp:
		a.lookedUp(c, m)
	case *cachePut:
		a.put(c, m)
	case *cacheAbandon:
		a.abandon(c, m)
	case *cacheStored:
		a.record(m.err)
	case *cacheFlightOver:
		if f := a.flights[m.key]; f != nil && f.gen == m.gen {
			// The leader never reported back (it should have): let every
			// waiter ask the model rather than wait forever.
			for _, w := range f.waiters {
				c.Send(w.pid, &cacheResult{seq: w.seq, key: m.key})
			}
			a.land(m.key, f)
		}
	case *actor.Stopping:
		for key, f := range a.flights {
			a.land(key, f)
		}
	}
}

func (a *cacheActor) get(c actor.Context, m *cacheGet) {
	w := cacheWaiter{seq: m.seq, pid: m.replyTo}
	root, self, key := c.ActorSystem().Root, c.Self(), m.key
	if f := a.flights[m.key]; f != nil {
		a.node.stats.CacheCoalesced.Add(1)
		f.waiters = append(f.waiters, w)
		if f.deadline == nil {
			// Someone waits now: the flight may outlive its leader's model
			// call only by a margin; past that the waiters stop waiting.
			gen := f.gen
			f.deadline = time.AfterFunc(a.node.opts.Chat.Timeout+2*a.node.opts.Chat.CacheTimeout, func() {
				root.Send(self, &cacheFlightOver{key: key, gen: gen})
			})
		}
		return
	}
	a.gen++
	f := &flight{gen: a.gen, waiters: []cacheWaiter{w}}
	a.flights[m.key] = f
	if !a.breaker.allow(time.Now()) {
		a.node.stats.CacheSkipped.Add(1)
		a.promote(c, m.key, f)
		return
	}
	o := a.node.opts.Chat
	f.lookingUp = true
	a.node.io.Go(func() {
		ctx, cancel := context.WithTimeout(a.node.ctx, o.CacheTimeout)
		defer cancel()
		answer, hit, err := o.Cache.Get(ctx, key)
		root.Send(self, &cacheLookedUp{key: key, answer: answer, hit: hit && err == nil, err: err})
	})
}

func (a *cacheActor) lookedUp(c actor.Context, m *cacheLookedUp) {
	a.record(m.err)
	st := a.node.stats
	switch {
	case m.err != nil:
		st.CacheErrors.Add(1)
		a.node.warnEvery("cache", "response cache unavailable", slog.String("error", m.err.Error()))
	case m.hit:
		st.CacheHits.Add(1)
	default:
		st.CacheMisses.Add(1)
	}
	f := a.flights[m.key]
	if f == nil {
		return
	}
	f.lookingUp = false
	if m.hit {
		a.deliver(c, m.key, f, m.answer)
		return
	}
	a.promote(c, m.key, f)
}

// abandon takes a session off the flight of key: a leader hands the lead
// to the next waiter; a waiter (cancelled, gone) stops waiting.
func (a *cacheActor) abandon(c actor.Context, m *cacheAbandon) {
	f := a.flights[m.key]
	if f == nil {
		return
	}
	if f.leader != nil && f.leader.Equal(m.from) {
		a.promote(c, m.key, f)
		return
	}
	for i, w := range f.waiters {
		if w.pid.Equal(m.from) {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			break
		}
	}
	if f.leader == nil && len(f.waiters) == 0 && !f.lookingUp {
		a.land(m.key, f)
	}
}

// promote makes the first waiter the leader (a miss: it asks the model),
// or lands the flight when nobody waits.
func (a *cacheActor) promote(c actor.Context, key string, f *flight) {
	if len(f.waiters) == 0 {
		a.land(key, f)
		return
	}
	w := f.waiters[0]
	f.waiters = f.waiters[1:]
	f.leader = w.pid
	c.Send(w.pid, &cacheResult{seq: w.seq, key: key})
}

func (a *cacheActor) put(c actor.Context, m *cachePut) {
	if f := a.flights[m.key]; f != nil && f.leader != nil && f.leader.Equal(m.from) {
		a.deliver(c, m.key, f, m.answer)
	}
	if !a.breaker.allow(time.Now()) {
		a.node.stats.CacheSkipped.Add(1)
		return
	}
	o := a.node.opts.Chat
	root, self := c.ActorSystem().Root, c.Self()
	a.node.io.Go(func() {
		ctx, cancel := context.WithTimeout(a.node.ctx, o.CacheTimeout)
		defer cancel()
		err := o.Cache.Set(ctx, m.key, m.answer, o.CacheTTL)
		if err != nil {
			a.node.stats.CacheErrors.Add(1)
			a.node.warnEvery("cache", "response cache unavailable", slog.String("error", err.Error()))
		} else {
			a.node.stats.CacheStores.Add(1)
		}
		root.Send(self, &cacheStored{err: err})
	})
}

// deliver hands answer to every waiter of the flight as a cache hit.
func (a *cacheActor) deliver(c actor.Context, key string, f *flight, answer string) {
	for _, w := range f.waiters {
		c.Send(w.pid, &cacheResult{seq: w.seq, key: key, answer: answer, hit: true})
	}
	a.land(key, f)
}

func (a *cacheActor) land(key string, f *flight) {
	if f.deadline != nil {
		f.deadline.Stop()
	}
	delete(a.flights, key)
}

// record feeds one cache operation's outcome to the breaker and publishes
// its state.
func (a *cacheActor) record(err error) {
	a.breaker.record(err, time.Now())
	a.node.stats.CacheBreakerOpen.Store(a.breaker.open())
}

// breaker stops the cache actor from waiting on a cache store that keeps
// failing: after threshold failures in a row it opens for cooldown, during
// which every look-up is a miss and every store is skipped at once; then
// one look-up probes, and its outcome closes or reopens it. A dead Redis
// then costs one timeout per cooldown instead of one per message.
type breaker struct {
	threshold int
	cooldown  time.Duration
	failures  int
	openUntil time.Time
	probing   bool
}

// allow reports whether an operation may go to the store now.
func (b *breaker) allow(now time.Time) bool {
	if b.failures < b.threshold {
		return true
	}
	if now.Before(b.openUntil) || b.probing {
		return false
	}
	b.probing = true
	return true
}

func (b *breaker) record(err error, now time.Time) {
	b.probing = false
	if err == nil {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.threshold {
		b.openUntil = now.Add(b.cooldown)
	}
}

func (b *breaker) open() bool { return b.failures >= b.threshold }
