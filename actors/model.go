package actors

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ModelMessage is one message of a model request.
type ModelMessage struct {
	Role    string // system, user or assistant
	Content string
}

// ModelRequest is a complete chat-completion request.
type ModelRequest struct {
	Model       string
	Messages    []ModelMessage
	MaxTokens   int
	Temperature float32
}

// ModelChunk is one piece of a streamed answer.
type ModelChunk struct {
	Delta            string
	FinishReason     string // set on the last content chunk: stop, length, ...
	PromptTokens     int    // set on the usage chunk, when the model sends one
	CompletionTokens int
}

// ModelStream is an answer being streamed. Recv returns io.EOF after the
// last chunk; Close releases the call.
type ModelStream interface {
	Recv() (ModelChunk, error)
	Close() error
}

// Model starts streaming chat completions. Cancelling ctx must abort the
// call promptly.
type Model interface {
	Stream(ctx context.Context, req ModelRequest) (ModelStream, error)
}

// modelAsk asks a user's model actor to answer req, streaming the chunks to
// session. ctx is owned by the session, which cancels it on cancel or
// disconnect.
type modelAsk struct {
	seq     uint64
	req     ModelRequest
	ctx     context.Context
	session *actor.PID
}

// modelRejected tells the session the user's rate limit is spent.
type modelRejected struct {
	seq        uint64
	retryAfter time.Duration
}

// modelText carries new text of answer seq to the session.
type modelText struct {
	seq   uint64
	delta string
}

// modelDone ends answer seq. err is nil when the model finished.
type modelDone struct {
	seq    uint64
	finish string
	err    error
}

// userGone tells a model actor its user has no live session left.
type userGone struct{}

type modelIdleCheck struct{}

type modelFinished struct{}

// modelActor is one per user with a live session. It owns the user's token
// bucket and runs each model call in a goroutine bounded by the session's
// context and the request timeout.
type modelActor struct {
	node   *Node
	userID string

	tokens float64
	filled time.Time // when tokens was last brought up to date

	inFlight  int
	gone      bool
	idleTimer *time.Timer
}

func (n *Node) modelProps(userID string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &modelActor{node: n, userID: userID, tokens: float64(n.opts.Chat.Burst), filled: time.Now()}
	}, n.kinds[KindModel].instrument(n.dispatcher())...)
}

func (m *modelActor) Receive(c actor.Context) {
	switch msg := c.Message().(type) {
	case *modelAsk:
		m.gone = false
		m.ask(c, msg)
	case *modelFinished:
		m.inFlight--
	case *userGone:
		m.gone = true
		m.scheduleIdleCheck(c)
	case *modelIdleCheck:
		if m.gone && m.inFlight == 0 && m.refill(time.Now()) >= float64(m.node.opts.Chat.Burst) {
			c.Send(m.node.registry, &modelIdle{userID: m.userID})
		} else if m.gone {
			m.scheduleIdleCheck(c)
		}
	case *modelStop:
		c.Stop(c.Self())
	case *actor.Stopping:
		if m.idleTimer != nil {
			m.idleTimer.Stop()
		}
	}
}

// refill brings the bucket up to date and returns its level.
func (m *modelActor) refill(now time.Time) float64 {
	o := m.node.opts.Chat
	m.tokens += now.Sub(m.filled).Minutes() * o.RatePerMinute
	if max := float64(o.Burst); m.tokens > max {
		m.tokens = max
	}
	m.filled = now
	return m.tokens
}

// scheduleIdleCheck arranges a check for when the bucket will be full, so
// that the actor, and the rate limit with it, outlives the user's sessions
// just long enough for reconnecting not to reset the limit.
func (m *modelActor) scheduleIdleCheck(c actor.Context) {
	o := m.node.opts.Chat
	missing := float64(o.Burst) - m.refill(time.Now())
	wait := time.Duration(missing/o.RatePerMinute*float64(time.Minute)) + 10*time.Millisecond
	root, self := c.ActorSystem().Root, c.Self()
	if m.idleTimer != nil {
		m.idleTimer.Stop()
	}
	m.idleTimer = time.AfterFunc(wait, func() { root.Send(self, &modelIdleCheck{}) })
}

func (m *modelActor) ask(c actor.Context, ask *modelAsk) {
	if m.refill(time.Now()) < 1 {
		o := m.node.opts.Chat
		wait := time.Duration((1 - m.tokens) / o.RatePerMinute * float64(time.Minute))
		m.node.stats.LLMRateLimited.Add(1)
		c.Send(ask.session, &modelRejected{seq: ask.seq, retryAfter: wait})
		return
	}
	m.tokens--
	m.inFlight++
	root, self := c.ActorSystem().Root, c.Self()
	go func() {
		defer root.Send(self, &modelFinished{})
		m.node.stream(root, ask)
	}()
}

// stream runs one model call and sends its text and its end to the session.
// It runs in its own goroutine.
func (n *Node) stream(root *actor.RootContext, ask *modelAsk) {
	st := n.stats
	st.LLMRequests.Add(1)
	st.LLMInFlight.Add(1)
	defer st.LLMInFlight.Add(-1)
	ctx, cancel := context.WithTimeout(ask.ctx, n.opts.Chat.Timeout)
	defer cancel()
	finish, err := n.relay(ctx, root, ask)
	if err != nil && ask.ctx.Err() == nil {
		st.LLMErrors.Add(1)
		n.warnEvery("model", "model call failed", slog.String("error", err.Error()))
	}
	root.Send(ask.session, &modelDone{seq: ask.seq, finish: finish, err: err})
}

func (n *Node) relay(ctx context.Context, root *actor.RootContext, ask *modelAsk) (finish string, err error) {
	stream, err := n.opts.Chat.Model.Stream(ctx, ask.req)
	if err != nil {
		return "", err
	}
	defer stream.Close()
	for {
		ch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if finish == "" {
				finish = "stop"
			}
			return finish, nil
		}
		if err != nil {
			return "", err
		}
		if ch.Delta != "" {
			root.Send(ask.session, &modelText{seq: ask.seq, delta: ch.Delta})
		}
		if ch.FinishReason != "" {
			finish = ch.FinishReason
		}
		n.stats.TokensIn.Add(int64(ch.PromptTokens))
		n.stats.TokensOut.Add(int64(ch.CompletionTokens))
	}
}
