package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ResponseCache stores complete answers by cache key.
type ResponseCache interface {
	// Get returns the answer stored under key; ok is false on a miss.
	Get(ctx context.Context, key string) (answer string, ok bool, err error)
	Set(ctx context.Context, key, answer string, ttl time.Duration) error
}

// cacheGet asks the cache actor for key; the answer goes to replyTo.
type cacheGet struct {
	seq     uint64
	key     string
	replyTo *actor.PID
}

type cacheResult struct {
	seq    uint64
	answer string
	hit    bool
	err    error
}

type cachePut struct {
	key    string
	answer string
}

// cacheActor owns the response cache. Look-ups and stores run on the node's
// I/O workers, bounded by the node's context and the cache timeout; the actor itself only
// dispatches and counts, so a slow cache never stalls its mailbox.
type cacheActor struct {
	node *Node
}

func newCacheActor(n *Node) *cacheActor { return &cacheActor{node: n} }

func (a *cacheActor) Receive(c actor.Context) {
	o := a.node.opts.Chat
	switch m := c.Message().(type) {
	case *cacheGet:
		root := c.ActorSystem().Root
		a.node.io.Go(func() {
			ctx, cancel := context.WithTimeout(a.node.ctx, o.CacheTimeout)
			defer cancel()
			answer, hit, err := o.Cache.Get(ctx, m.key)
			a.count(hit, err)
			root.Send(m.replyTo, &cacheResult{seq: m.seq, answer: answer, hit: hit && err == nil, err: err})
		})
	case *cachePut:
		a.node.io.Go(func() {
			ctx, cancel := context.WithTimeout(a.node.ctx, o.CacheTimeout)
			defer cancel()
			if err := o.Cache.Set(ctx, m.key, m.answer, o.CacheTTL); err != nil {
				a.count(false, err)
				return
			}
			a.node.stats.CacheStores.Add(1)
		})
	}
}

// count records one look-up's outcome. A cache failure never fails a chat:
// it is counted and logged, and the message goes to the model.
func (a *cacheActor) count(hit bool, err error) {
	st := a.node.stats
	switch {
	case err != nil:
		st.CacheErrors.Add(1)
		a.node.warnEvery("cache", "response cache unavailable", slog.String("error", err.Error()))
	case hit:
		st.CacheHits.Add(1)
	default:
		st.CacheMisses.Add(1)
	}
}
