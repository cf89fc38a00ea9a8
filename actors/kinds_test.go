package actors

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
)

type panicky struct{}

func (panicky) Receive(c actor.Context) {
	if _, ok := c.Message().(string); ok {
		panic("boom")
	}
}

// TestFailuresCountedByKind: a failure is counted against the kind of the
// actor that failed, from its supervisor, whatever the actor is named.
func TestFailuresCountedByKind(t *testing.T) {
	sys := actor.NewActorSystem()
	k := new(KindStats)
	s := &countingStrategy{inner: actor.DefaultSupervisorStrategy(), kind: k}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return panicky{} }, actor.WithGuardian(s)))
	sys.Root.Send(pid, "fail")
	testutil.WaitFor(t, 5*time.Second, "the failure to be counted", func() bool { return k.Restarts.Load() == 1 })
}

type panicModel struct{}

func (panicModel) Stream(context.Context, ModelRequest) (ModelStream, error) { panic("provider bug") }

// TestModelPanicFailsOneAnswer: a panic in a model call, which runs
// outside any actor, fails that answer and spares the process.
func TestModelPanicFailsOneAnswer(t *testing.T) {
	n := newTestNode(t, func(o *Options) { o.Chat.Model = panicModel{} })
	h, p := open(t, n, "p")
	h.Send(&ChatMessage{Content: "hello"})
	for {
		if e, ok := p.next(t).(*ErrorFrame); ok {
			if e.Code != CodeLLMUnavailable {
				t.Fatalf("want llm_unavailable, got %s", e.Code)
			}
			break
		}
	}
	h.Send(&Ping{})
	if e := p.next(t); e != "pong" {
		t.Fatalf("session not usable after the failed answer: %v", e)
	}
}

// TestLiveCountSurvivesRestart: an actor that fails and is restarted is
// still one live actor, and its messages are counted.
func TestLiveCountSurvivesRestart(t *testing.T) {
	sys := actor.NewActorSystem()
	k := new(KindStats)
	s := &countingStrategy{inner: actor.DefaultSupervisorStrategy(), kind: k}
	props := k.props(func() actor.Actor { return panicky{} }, actor.NewDefaultDispatcher(300), actor.WithGuardian(s))
	pid := sys.Root.Spawn(props)
	testutil.WaitFor(t, 5*time.Second, "the actor to start", func() bool { return k.Live.Load() == 1 })
	sys.Root.Send(pid, 1)
	sys.Root.Send(pid, "fail")
	testutil.WaitFor(t, 5*time.Second, "the restart", func() bool { return k.Restarts.Load() == 1 })
	sys.Root.Send(pid, 2)
	testutil.WaitFor(t, 5*time.Second, "the messages to be counted", func() bool { return k.Processed.Load() >= 3 })
	if got := k.Live.Load(); got != 1 {
		t.Fatalf("live = %d after a restart, want 1", got)
	}
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the stop to be counted", func() bool { return k.Live.Load() == 0 })
}

// slowChild takes a while to stop, holding its parent's restart open.
type slowChild struct{}

func (slowChild) Receive(c actor.Context) {
	if _, ok := c.Message().(*actor.Stopping); ok {
		time.Sleep(200 * time.Millisecond)
	}
}

// parentWithChild spawns a slow child and fails on a string.
type parentWithChild struct{}

func (parentWithChild) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *actor.Started:
		c.Spawn(actor.PropsFromProducer(func() actor.Actor { return slowChild{} }))
	case string:
		panic("boom")
	}
}

// TestLiveCountStopDuringRestart: an actor stopped while its restart waits
// for its children gets Restarting and then Stopped; it leaves the count
// once.
func TestLiveCountStopDuringRestart(t *testing.T) {
	sys := actor.NewActorSystem()
	k := new(KindStats)
	s := &countingStrategy{inner: actor.DefaultSupervisorStrategy(), kind: k}
	pid := sys.Root.Spawn(k.props(func() actor.Actor { return parentWithChild{} }, actor.NewDefaultDispatcher(300), actor.WithGuardian(s)))
	testutil.WaitFor(t, 5*time.Second, "the actor to start", func() bool { return k.Live.Load() == 1 })
	sys.Root.Send(pid, "fail")
	testutil.WaitFor(t, 5*time.Second, "the failure", func() bool { return k.Restarts.Load() == 1 })
	time.Sleep(50 * time.Millisecond) // inside the child's slow stop
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let a late Started or Stopped land
	if got := k.Live.Load(); got != 0 {
		t.Fatalf("live = %d after a stop during a restart, want 0", got)
	}
}
