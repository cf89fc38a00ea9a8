package actors

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Actor kinds, as operators see them.
const (
	KindSession  = "session"
	KindRegistry = "registry"
	KindModel    = "model"
	KindCache    = "cache"
)

// Kinds lists the actor kinds in a stable order.
var Kinds = []string{KindSession, KindRegistry, KindModel, KindCache}

// KindStats counts one kind of actor: how many are alive, the messages they
// processed, how often they failed, and the deepest mailbox seen lately.
type KindStats struct {
	Live      atomic.Int64
	Processed atomic.Int64
	Restarts  atomic.Int64 // failures handled by a supervisor (resumed, restarted or stopped)

	depthNow  atomic.Int64 // deepest mailbox in the current window
	depthPrev atomic.Int64 // deepest mailbox in the previous window
}

// DeepestMailbox is the longest queue of unprocessed messages any actor of
// this kind had over the last 10 to 20 seconds.
func (k *KindStats) DeepestMailbox() int64 {
	return max(k.depthNow.Load(), k.depthPrev.Load())
}

func (k *KindStats) observeDepth(d int64) {
	for {
		cur := k.depthNow.Load()
		if d <= cur || k.depthNow.CompareAndSwap(cur, d) {
			return
		}
	}
}

// rotate starts a new depth window.
func (k *KindStats) rotate() { k.depthPrev.Store(k.depthNow.Swap(0)) }

// props returns the props of an actor of this kind: produce wrapped so
// that its messages and lifetime are counted, and a mailbox that reports
// its depth as messages arrive and runs on dispatcher d. The count is taken
// by a wrapper around the actor rather than a receiver middleware, which
// would allocate an envelope for every message.
func (k *KindStats) props(produce actor.Producer, d actor.Dispatcher, opts ...actor.PropsOption) *actor.Props {
	unbounded := actor.Unbounded()
	mailbox := func() actor.Mailbox { return &depthMailbox{Mailbox: unbounded(), kind: k} }
	counted := func() actor.Actor { return &countingActor{Actor: produce(), kind: k} }
	return actor.PropsFromProducer(counted, append([]actor.PropsOption{actor.WithMailbox(mailbox), actor.WithDispatcher(d)}, opts...)...)
}

// countingActor counts what its actor receives. A restart stops one
// instance without a Stopped (it gets Restarting) and starts another; a
// Stop during a restart's wait for the children gives the old instance a
// Stopped too, so live makes sure each instance leaves the count once.
type countingActor struct {
	actor.Actor
	kind *KindStats
	live bool
}

func (a *countingActor) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *actor.Started:
		if !a.live {
			a.live = true
			a.kind.Live.Add(1)
		}
	case *actor.Stopped, *actor.Restarting:
		if a.live {
			a.live = false
			a.kind.Live.Add(-1)
		}
	default:
		a.kind.Processed.Add(1)
	}
	a.Actor.Receive(c)
}

// depthMailbox is the default unbounded mailbox, reporting its depth after
// each post. Mailbox depth cannot be read from a PID, so this is the only
// place it can be observed.
type depthMailbox struct {
	actor.Mailbox
	kind *KindStats
}

func (m *depthMailbox) PostUserMessage(msg any) {
	m.Mailbox.PostUserMessage(msg)
	m.kind.observeDepth(int64(m.Mailbox.UserMessageCount()))
}

// countingStrategy counts the failures of the actors it supervises, all
// of one kind, then lets inner decide what to do. Counting where the
// failure is handled means no actor's kind is ever guessed from its id.
type countingStrategy struct {
	inner actor.SupervisorStrategy
	kind  *KindStats
}

func (s *countingStrategy) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason any, message any) {
	s.kind.Restarts.Add(1)
	s.inner.HandleFailure(sys, sup, child, rs, reason, message)
}

// watchKinds rotates the mailbox depth windows until stop is closed.
func (n *Node) watchKinds(stop <-chan struct{}) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			for _, k := range n.kinds {
				k.rotate()
			}
		}
	}
}
