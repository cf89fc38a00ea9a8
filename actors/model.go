package actors

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
)

// ModelMessage is one message of a model request.
type ModelMessage struct {
	Role    string // system, user or assistant
	Content string
}

// ModelRequest is a complete chat-completion request.
type ModelRequest struct {
	Model    string
	Messages []ModelMessage
	// MaxTokens caps the answer; zero leaves it to the model server.
	MaxTokens int
	// Temperature zero leaves it to the model server.
	Temperature float32
}

// ModelChunk is one piece of a streamed answer. The chunk carrying
// FinishReason may be followed by one carrying only the token counts, so
// a caller that counts usage reads on until io.EOF.
type ModelChunk struct {
	Delta            string // whole characters: a chunk never ends inside a UTF-8 sequence
	FinishReason     string // the model's own reason, on the last content chunk; "" on the others
	PromptTokens     int    // set on the usage chunk, when the model sends one
	CompletionTokens int
	// Model names the model that answered, on the first chunk, when the
	// provider picks among several (transport/llm's Chain); "" means the
	// request's. Fallback is set when it is not the primary.
	Model    string
	Fallback bool
}

// ModelStream is an answer being streamed. Recv returns io.EOF after the
// last chunk. Close releases the call; it is safe to call more than once
// and concurrently with Recv, which it aborts.
type ModelStream interface {
	Recv() (ModelChunk, error)
	Close() error
}

// Model starts streaming chat completions; package transport/llm has the
// providers. It is safe for concurrent use, and cancelling ctx must abort
// the call promptly.
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

// modelRejected tells the session the user's rate limit is spent, or with
// budget set their daily token budget.
type modelRejected struct {
	seq        uint64
	retryAfter time.Duration
	budget     bool
}

// modelText carries new text of answer seq to the session.
type modelText struct {
	seq   uint64
	delta string
}

// modelDone ends answer seq. err is nil when the model finished.
type modelDone struct {
	seq    uint64
	finish string // as the client sees it: stop, length or content_filter
	// cacheable is set when the model itself said stop: any other end (cut
	// by a length limit, refused, a tool call shown as stop) is no answer to
	// hand out again.
	cacheable bool
	// odd is the model's reason, shortened, when no client may see it and
	// the answer is reported as stop instead.
	odd   string
	usage *Usage // nil when the model reported none
	err   error
	// model is the model that answered, "" when the provider did not say
	// (the request's). A fallback's answer is never cacheable.
	model    string
	fallback bool
}

// maxLoggedReason bounds the bytes of a model's finish reason that reach
// the log: the text comes from the provider and could be anything.
const maxLoggedReason = 32

// clientFinish maps a model's finish reason onto the values a client can
// get. ok is false when the reason is none of them and stop is reported in
// its place. "" (a model that named no reason before its end) counts as
// stop.
func clientFinish(model string) (finish string, ok bool) {
	switch model {
	case "", "stop":
		return "stop", true
	case "length", "content_filter":
		return model, true
	}
	return "stop", false
}

// cutUTF8 returns the longest prefix of s that is at most n bytes and does
// not end inside a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	s = s[:n]
	// Only the last rune can have been split: find where it starts.
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				return s[:i]
			}
			return s
		}
	}
	return s
}

// userGone tells a model actor its user has no live session left.
type userGone struct{}

type modelIdleCheck struct{}

// modelFinished ends a call of the actor's; usage is what the model
// reported for it, zero when nothing.
type modelFinished struct{ usage Usage }

// modelActor is one per user with a live session. It owns the user's rate
// limit and daily token budget and runs each model call in a goroutine
// bounded by the session's context and the request timeout.
type modelActor struct {
	node   *Node
	userID string
	limit  Limiter
	budget budget

	inFlight  int
	gone      bool
	idleTimer *time.Timer
}

func (n *Node) modelProps(userID string) *actor.Props {
	return n.kinds[KindModel].props(func() actor.Actor {
		return &modelActor{node: n, userID: userID, limit: n.newLimiter(userID), budget: n.newBudget(userID)}
	}, n.dispatcher())
}

// newLimiter makes the rate limit of a user's model actor: today a local
// bucket of Chat.Burst tokens refilled at Chat.RatePerMinute. A fleet-wide
// limiter would be chosen here, its Allow moved to the call's goroutine
// (see Limiter).
func (n *Node) newLimiter(userID string) Limiter {
	return newLocalLimiter(n.opts.Chat.RatePerMinute, n.opts.Chat.Burst)
}

func (m *modelActor) Receive(c actor.Context) {
	switch msg := c.Message().(type) {
	case *modelAsk:
		m.gone = false
		m.ask(c, msg)
	case *modelFinished:
		m.inFlight--
		m.budget.add(m.node.now(), msg.usage.PromptTokens+msg.usage.CompletionTokens)
	case *userSpend:
		c.Respond(m.budget.today(m.node.now()))
	case *userGone:
		m.gone = true
		m.scheduleIdleCheck(c)
	case *modelIdleCheck:
		if m.gone && m.inFlight == 0 && m.limit.FullIn(time.Now()) == 0 {
			// The registry may stop the actor on this: the spend outlives
			// it in the node's book, for the user's next actor today.
			now := m.node.now()
			m.node.spends.park(m.userID, utcDay(now), m.budget.today(now))
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

// scheduleIdleCheck arranges a check for when the bucket will be full, so
// that the actor, and the rate limit with it, outlives the user's sessions
// just long enough for reconnecting not to reset the limit.
func (m *modelActor) scheduleIdleCheck(c actor.Context) {
	wait := m.limit.FullIn(time.Now()) + 10*time.Millisecond
	root, self := c.ActorSystem().Root, c.Self()
	if m.idleTimer != nil {
		m.idleTimer.Stop()
	}
	m.idleTimer = time.AfterFunc(wait, func() { root.Send(self, &modelIdleCheck{}) })
}

func (m *modelActor) ask(c actor.Context, ask *modelAsk) {
	// The budget first: a refused ask spends no rate-limit token.
	over, overWait := m.budget.over(m.node.now())
	fleet := m.node.opts.Fleet != nil
	if !fleet {
		if over {
			c.Send(ask.session, &modelRejected{seq: ask.seq, retryAfter: overWait, budget: true})
			return
		}
		ok, wait, err := m.limit.Allow(ask.ctx, time.Now())
		if err != nil {
			m.node.warnEvery("rate-limit", "rate limit unreadable; call let through", slog.String("error", err.Error()))
		} else if !ok {
			m.node.stats.LLMRateLimited.Add(1)
			c.Send(ask.session, &modelRejected{seq: ask.seq, retryAfter: wait})
			return
		}
	}
	m.inFlight++
	root, self := c.ActorSystem().Root, c.Self()
	go func() {
		// The actor hears that the call ended, with its usage, before the
		// session does: the session's next ask then finds the spend
		// counted, and the answer after the one that crossed the budget
		// is refused.
		finished := false
		finish := func(u Usage) {
			finished = true
			root.Send(self, &modelFinished{usage: u})
		}
		defer func() {
			// A provider's panic would end the process from this
			// goroutine, which no supervisor watches: it fails one answer.
			if r := recover(); r != nil {
				m.node.stats.LLMErrors.Add(1)
				m.node.log.Error("model call panicked", slog.Any("panic", r))
				if !finished {
					finish(Usage{})
				}
				root.Send(ask.session, &modelDone{seq: ask.seq, err: errModelPanicked})
			}
		}()
		if fleet {
			// The fleet's limits are in Redis: asked here, off the
			// actor, which counted this goroutine in flight.
			ok, rej := m.fleetGate(ask, over, overWait)
			if !ok {
				finish(Usage{})
				if rej != nil {
					root.Send(ask.session, rej)
				}
				return
			}
		}
		m.stream(root, ask, finish)
	}()
}

var errModelPanicked = errors.New("model call panicked")

// stream runs one model call and sends its text and its end to the session,
// calling finish with the usage the model reported just before the end. It
// runs in a goroutine of the actor's, so it reads only what never changes
// (the node and its options), never the actor's state.
func (m *modelActor) stream(root *actor.RootContext, ask *modelAsk, finish func(Usage)) {
	n := m.node
	st := n.stats
	st.LLMRequests.Add(1)
	st.LLMInFlight.Add(1)
	defer st.LLMInFlight.Add(-1)
	ctx, cancel := context.WithTimeout(ask.ctx, n.opts.Chat.Timeout)
	defer cancel()
	var usage Usage
	var who ModelChunk // Model and Fallback of the first chunk
	reason, capped, err := m.relay(ctx, root, ask, &usage, &who)
	if err != nil && ask.ctx.Err() == nil {
		st.LLMErrors.Add(1)
		n.warnEvery("model", "model call failed", slog.String("error", err.Error()))
	}
	done := &modelDone{seq: ask.seq, err: err, model: who.Model, fallback: who.Fallback}
	if usage != (Usage{}) {
		done.usage = &usage
	}
	switch finish, ok := clientFinish(reason); {
	case capped:
		done.finish = "length"
	case !ok:
		done.finish, done.odd = finish, cutUTF8(reason, maxLoggedReason)
	default:
		done.finish, done.cacheable = finish, finish == "stop" && !who.Fallback
	}
	finish(usage)
	// Counted before the session hears of the end, so that its next
	// question finds this answer's tokens spent on every node.
	n.fleetSpend(m.userID, usage.PromptTokens+usage.CompletionTokens)
	root.Send(ask.session, done)
}

// relay streams the model's answer to the session and returns the model's
// finish reason. An answer reaching MaxAnswerBytes is cut there and the call
// abandoned, capped true: a model that ignores max_tokens would otherwise
// stream without end, and every frame carries the whole answer so far.
// The token counts the model reports go to usage, the model that answered
// to who.
func (m *modelActor) relay(ctx context.Context, root *actor.RootContext, ask *modelAsk, usage *Usage, who *ModelChunk) (reason string, capped bool, err error) {
	n := m.node
	stream, err := n.opts.Chat.Model.Stream(ctx, ask.req)
	if err != nil {
		return "", false, err
	}
	// Closing the stream cancels the upstream request, also when the cap
	// ends it early.
	defer stream.Close()
	room := n.opts.Chat.MaxAnswerBytes
	for {
		ch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return reason, false, nil
		}
		if err != nil {
			return "", false, err
		}
		if ch.Model != "" {
			who.Model, who.Fallback = ch.Model, ch.Fallback
		}
		n.stats.TokensIn.Add(int64(ch.PromptTokens))
		n.stats.TokensOut.Add(int64(ch.CompletionTokens))
		usage.PromptTokens += ch.PromptTokens
		usage.CompletionTokens += ch.CompletionTokens
		delta := ch.Delta
		if len(delta) > room {
			delta = cutUTF8(delta, room)
			capped = true
		}
		room -= len(delta)
		if delta != "" {
			root.Send(ask.session, &modelText{seq: ask.seq, delta: delta})
		}
		if capped {
			return "", true, nil
		}
		// A null finish_reason arrives as "": only a named reason
		// is the model's last word.
		if ch.FinishReason != "" {
			reason = ch.FinishReason
		}
	}
}
