package actors

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
)

// stepModel streams one word each time the test sends on steps; true is
// the last word.
type stepModel struct{ steps chan bool }

func (m stepModel) Stream(ctx context.Context, _ ModelRequest) (ModelStream, error) {
	return &stepStream{ctx: ctx, steps: m.steps}, nil
}

type stepStream struct {
	ctx   context.Context
	steps chan bool
	ended bool
}

func (s *stepStream) Recv() (ModelChunk, error) {
	if s.ended {
		return ModelChunk{}, io.EOF
	}
	select {
	case last, open := <-s.steps:
		ch := ModelChunk{Delta: "word "}
		last = last || !open
		if last {
			s.ended, ch.FinishReason = true, "stop"
		}
		return ch, nil
	case <-s.ctx.Done():
		return ModelChunk{}, s.ctx.Err()
	}
}

func (s *stepStream) Close() error { return nil }

// startDetached starts a node whose model streams a word per step, asks a
// question as user, drops the socket at the answer's first frame and
// waits until the registry lists the detached answer. It returns that
// frame and the steps of the answer still running.
func startDetached(t *testing.T, user string) (*Node, chan bool, *Answer) {
	t.Helper()
	steps := make(chan bool)
	n := newTestNode(t, func(o *Options) {
		o.Chat.Model = stepModel{steps}
		o.Chat.ResumeWindow = time.Minute
	})
	h, p := open(t, n, user)
	h.Send(&ChatMessage{ID: "m1", Content: "q"})
	steps <- false
	first := p.next(t).(*Answer)
	h.Send(&Disconnected{CloseCode: 1006})
	testutil.WaitFor(t, 5*time.Second, "the registry to list the detached answer", func() bool {
		_, ok := n.resumable.Load(first.ID)
		return ok
	})
	return n, steps, first
}

// A detached answer's frames cost the registry nothing, yet the next
// connected frame lists the latest of them; a resume then picks the answer
// up where the client left it.
func TestDetachedAnswerFramesSkipTheRegistry(t *testing.T) {
	n, steps, first := startDetached(t, "u")
	reg := n.Kind(KindRegistry)
	before := reg.Processed.Load()
	const words = 30
	for range words {
		steps <- false
		time.Sleep(3 * time.Millisecond) // past the flush interval: a frame each
	}
	if got := reg.Processed.Load() - before; got != 0 {
		t.Errorf("the registry processed %d messages for %d frames of a detached answer, want 0", got, words)
	}

	h2, p2 := open(t, n, "u")
	w := p2.welcome.Load()
	if len(w.Pending) != 1 || w.Pending[0].ID != first.ID || w.Pending[0].Done {
		t.Fatalf("pending = %+v, want the answer in flight", w.Pending)
	}
	latest := w.Pending[0].Seq
	if latest < words/2 {
		t.Errorf("pending seq = %d after %d more words: not the latest frame", latest, words)
	}

	h2.Send(&Resume{ID: first.ID, AfterSeq: first.Seq})
	got := p2.next(t).(*Answer)
	if !got.Resumed || got.Seq < latest || got.Content != strings.Repeat("word ", words+1) || got.Delta != got.Content[len(first.Content):] {
		t.Fatalf("resumed frame = %+v, want the whole answer so far and the text after seq %d", got, first.Seq)
	}
	steps <- true
	if done := p2.answer(t); done.FinishReason != "stop" || done.Content != strings.Repeat("word ", words+2) {
		t.Fatalf("done = %+v", done)
	}
	testutil.WaitFor(t, 5*time.Second, "the answer to leave the index", func() bool {
		_, ok := n.resumable.Load(first.ID)
		return !ok
	})
}

// A resume that reaches a detached session just as it stops gets no
// reply; it ends not_found, not with a session left busy for good.
func TestResumeReachingAStoppedSessionIsNotFound(t *testing.T) {
	wait := resumeAskWait
	resumeAskWait = 200 * time.Millisecond
	t.Cleanup(func() { resumeAskWait = wait })
	n := newTestNode(t, func(o *Options) { o.Chat.ResumeWindow = time.Minute })
	gone := n.root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	if err := n.root.StopFuture(gone).Wait(); err != nil {
		t.Fatal(err)
	}
	// As the index stands between a detached session's stop and the
	// registry's processing of its answerGone.
	n.resumable.Store("a1", &detachedAnswer{userID: "u", pid: gone, mark: &answerMark{}})

	h, p := open(t, n, "u")
	h.Send(&Resume{ID: "a1"})
	e, ok := p.next(t).(*ErrorFrame)
	if !ok || e.Code != CodeNotFound {
		t.Fatalf("got %+v, want error not_found", e)
	}
	h.Send(&ChatMessage{Content: "still there?"})
	if a := p.answer(t); a.FinishReason != "stop" {
		t.Fatalf("answer after the refused resume: %+v", a)
	}
}

// Another user's answer is not resumed through the index either.
func TestResumeOfAnotherUsersIndexedAnswerIsNotFound(t *testing.T) {
	n, steps, first := startDetached(t, "owner")
	h2, p2 := open(t, n, "thief")
	h2.Send(&Resume{ID: first.ID})
	if e, ok := p2.next(t).(*ErrorFrame); !ok || e.Code != CodeNotFound {
		t.Fatalf("got %+v, want error not_found", e)
	}
	close(steps) // the next Recv reads a last word: the answer ends
}

// failModel fails every call once the test closes fail, with no text.
type failModel struct{ fail chan struct{} }

func (m failModel) Stream(ctx context.Context, _ ModelRequest) (ModelStream, error) {
	return failStream{ctx: ctx, fail: m.fail}, nil
}

type failStream struct {
	ctx  context.Context
	fail chan struct{}
}

func (s failStream) Recv() (ModelChunk, error) {
	select {
	case <-s.fail:
		return ModelChunk{}, io.ErrUnexpectedEOF
	case <-s.ctx.Done():
		return ModelChunk{}, s.ctx.Err()
	}
}

func (failStream) Close() error { return nil }

// A detached answer that fails before its first frame leaves nothing to
// resume: it is no longer pending, and resuming it is not_found.
func TestDetachedAnswerFailingBeforeAnyFrameIsGone(t *testing.T) {
	fail := make(chan struct{})
	n := newTestNode(t, func(o *Options) {
		o.Chat.Model = failModel{fail}
		o.Chat.ResumeWindow = time.Minute
	})
	h, _ := open(t, n, "u")
	h.Send(&ChatMessage{ID: "m1", Content: "q"})
	h.Send(&Disconnected{CloseCode: 1006}) // the answer is in flight: it detaches
	testutil.WaitFor(t, 5*time.Second, "the answer to detach", func() bool { return n.Stats().AnswersDetached.Load() == 1 })
	var id string
	testutil.WaitFor(t, 5*time.Second, "the registry to list it", func() bool {
		n.resumable.Range(func(k, _ any) bool { id = k.(string); return false })
		return id != ""
	})
	close(fail)
	testutil.WaitFor(t, 5*time.Second, "the failed answer to leave the index", func() bool {
		_, ok := n.resumable.Load(id)
		return !ok
	})
	h2, p2 := open(t, n, "u")
	if w := p2.welcome.Load(); len(w.Pending) != 0 {
		t.Fatalf("pending = %+v, want none", w.Pending)
	}
	h2.Send(&Resume{ID: id})
	if e, ok := p2.next(t).(*ErrorFrame); !ok || e.Code != CodeNotFound {
		t.Fatalf("got %+v, want error not_found", e)
	}
}
