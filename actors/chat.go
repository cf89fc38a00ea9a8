package actors

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/wealthwarriors/wealthcoach/store"
)

// ChatOptions configures the chat pipeline. Zero values take those of
// DefaultChatOptions; HistoryMessages, which it leaves zero, keeps no history.
type ChatOptions struct {
	Model       Model  // nil answers every chat message with llm_unavailable
	ModelName   string // sent as the request's model
	Provider    string // the audit trail's provider: openai (default) or demo
	MaxTokens   int
	Temperature float32
	Timeout     time.Duration // per model call, first byte to last

	// MaxAnswerBytes caps an answer whatever the model does with MaxTokens:
	// the answer is cut there on a character boundary, the model call
	// cancelled, and the answer ends with length.
	MaxAnswerBytes int

	HistoryMessages int // messages of memory sent with each request (user and assistant each count one)

	RatePerMinute float64 // per-user bucket refill
	Burst         int     // per-user bucket size

	// DailyTokens is each user's budget of model tokens (prompt and
	// completion, as the model reports them) per UTC day; 0 is none. Past
	// it a chat message that misses the cache is answered budget_exceeded
	// until 00:00 UTC.
	DailyTokens int
	// Now is the clock the budget's day is read from; nil is time.Now.
	// Tests set it to cross midnight.
	Now func() time.Time

	Cache        ResponseCache // nil disables the response cache
	CacheTTL     time.Duration // how long a stored answer lives
	CacheTimeout time.Duration // per cache operation
	SharedCache  bool          // cross-user hits on identical input (cache.scope shared)
	// ResumeWindow is how long an answer goes on after its socket drops,
	// resumable by a new session of the user (SPEC 8.3). Zero turns that
	// off: a drop cancels the answer, as in protocol 1.0.
	ResumeWindow time.Duration

	// The cache's circuit breaker: after CacheBreakerFailures failed
	// operations in a row (default 5) the cache is not asked for
	// CacheBreakerCooldown (default 10s), then one look-up probes it.
	CacheBreakerFailures int
	CacheBreakerCooldown time.Duration

	FlushInterval time.Duration // least time between two frames of an answer
	FlushBytes    int           // pending text that is sent without waiting
}

// DefaultChatOptions returns the chat pipeline's defaults, the only place
// they are written: NewNode fills every zero field from it, and the server's
// configuration takes its defaults from it.
func DefaultChatOptions() ChatOptions {
	return ChatOptions{
		Timeout:              60 * time.Second,
		MaxAnswerBytes:       32 << 10,
		RatePerMinute:        20,
		Burst:                5,
		CacheTTL:             24 * time.Hour,
		CacheTimeout:         250 * time.Millisecond,
		CacheBreakerFailures: 5,
		CacheBreakerCooldown: 10 * time.Second,
		FlushInterval:        30 * time.Millisecond,
		FlushBytes:           256,
	}
}

// setDefaults fills the zero fields that DefaultChatOptions sets.
func (o *ChatOptions) setDefaults() {
	d := DefaultChatOptions()
	o.Timeout = cmp.Or(o.Timeout, d.Timeout)
	o.MaxAnswerBytes = cmp.Or(o.MaxAnswerBytes, d.MaxAnswerBytes)
	o.RatePerMinute = cmp.Or(o.RatePerMinute, d.RatePerMinute)
	o.Burst = cmp.Or(o.Burst, d.Burst)
	o.CacheTTL = cmp.Or(o.CacheTTL, d.CacheTTL)
	o.CacheTimeout = cmp.Or(o.CacheTimeout, d.CacheTimeout)
	o.CacheBreakerFailures = cmp.Or(o.CacheBreakerFailures, d.CacheBreakerFailures)
	o.CacheBreakerCooldown = cmp.Or(o.CacheBreakerCooldown, d.CacheBreakerCooldown)
	o.FlushInterval = cmp.Or(o.FlushInterval, d.FlushInterval)
	o.FlushBytes = cmp.Or(o.FlushBytes, d.FlushBytes)
}

// chatState is a session's conversation: its system prompt (rendered on
// the first message, so idle sessions do not hold it), its memory and the
// answer in flight.
type chatState struct {
	system  string
	history []ModelMessage
	seq     uint64
	cur     *answer
	// offsets[i] is the length of the answer in flight after its frame
	// i+1: what a resume needs to send exactly the text a client missed.
	offsets []int
}

// answer is the answer in flight.
type answer struct {
	seq      uint64
	id       string
	replyTo  string
	question string
	req      ModelRequest
	key      string
	ctx      context.Context
	cancel   context.CancelFunc
	started  time.Time

	content   []byte
	usage     *Usage    // as the model reported it, for the done frame
	cacheable bool      // the model said stop: the answer may be stored
	model     string    // the model that answered, "" for ChatOptions.ModelName
	fallback  bool      // a fallback model answered
	firstAt   time.Time // when the first frame was sent
	sent      int       // bytes of content already sent
	frames    int
	last      time.Time // when the last frame was sent
	timer     *time.Timer
	// remote is the session running an answer this one follows after a
	// resume (resumePending until it answers); nil for an answer of its own.
	remote *actor.PID
	armed  bool // a flush tick is pending
}

// flushTick asks the session to send the text pending for answer seq.
type flushTick struct{ seq uint64 }

// stop cancels the answer in flight; the session is ending.
func (cs *chatState) stop() {
	if a := cs.cur; a != nil {
		if a.cancel != nil { // nil for an answer followed from another session
			a.cancel()
		}
		if a.timer != nil {
			a.timer.Stop()
		}
		cs.cur = nil
	}
}

// request builds the model request: system prompt, memory, new message.
func (cs *chatState) request(o *ChatOptions, acct *store.Account, text string) ModelRequest {
	if cs.system == "" {
		cs.system = systemPrompt(acct.User.Name, acct.Profile)
	}
	msgs := make([]ModelMessage, 0, len(cs.history)+2)
	msgs = append(msgs, ModelMessage{Role: "system", Content: cs.system})
	msgs = append(msgs, cs.history...)
	msgs = append(msgs, ModelMessage{Role: "user", Content: text})
	return ModelRequest{Model: o.ModelName, Messages: msgs, MaxTokens: o.MaxTokens, Temperature: o.Temperature}
}

// remember adds a completed exchange to memory, keeping the last max
// messages.
func (cs *chatState) remember(max int, question, reply string) {
	cs.history = append(cs.history,
		ModelMessage{Role: "user", Content: question},
		ModelMessage{Role: "assistant", Content: reply})
	if extra := len(cs.history) - max; extra > 0 {
		cs.history = append(cs.history[:0], cs.history[extra:]...)
	}
}

// ask starts answering a validated chat message: cache first, then model.
func (s *session) ask(c actor.Context, text, replyTo string) {
	o := &s.node.opts.Chat
	cs := &s.chat
	cs.seq++
	a := &answer{seq: cs.seq, replyTo: replyTo, question: text, started: time.Now()}
	a.id = s.id + "-" + strconv.FormatUint(cs.seq, 10)
	a.req = cs.request(o, &s.account, text)
	a.ctx, a.cancel = context.WithCancel(s.node.ctx)
	cs.cur = a
	cs.offsets = cs.offsets[:0]
	s.setState(stateStreaming)
	if s.model == nil && !s.modelAsked && o.Model != nil {
		// Resolve the model actor while the cache is consulted, so that a
		// miss goes straight to it.
		s.modelAsked = true
		c.Send(s.node.registry, &ensureModel{userID: s.userID, session: s.self})
	}
	if o.Cache == nil {
		s.callModel(c, a)
		return
	}
	scope := s.userID
	if o.SharedCache {
		scope = ""
	}
	a.key = cacheKey(scope, &a.req)
	c.Send(s.node.cache, &cacheGet{seq: a.seq, key: a.key, replyTo: s.self})
}

func (s *session) callModel(c actor.Context, a *answer) {
	if s.node.opts.Chat.Model == nil {
		s.fail(CodeLLMUnavailable, "no model is configured", 0)
		return
	}
	if s.model == nil {
		// ensureModel went out with the message; the ask follows the
		// answer to it.
		s.modelWaiting = true
		return
	}
	c.Send(s.model, &modelAsk{seq: a.seq, req: a.req, ctx: a.ctx, session: s.self})
}

// chatEvent handles the messages of the answer in flight. Messages for an
// answer that has already ended (cancelled, failed) are dropped.
func (s *session) chatEvent(c actor.Context, msg any) {
	a := s.chat.cur
	switch m := msg.(type) {
	case *modelAssigned:
		s.model = m.model
		if s.modelWaiting {
			s.modelWaiting = false
			if a != nil {
				s.callModel(c, a)
			}
		}
	case *cacheResult:
		if a == nil || m.seq != a.seq {
			if !m.hit {
				// This session was made to lead an answer it no longer
				// wants: let the next session waiting on the key lead.
				c.Send(s.node.cache, &cacheAbandon{key: m.key, from: s.self})
			}
			return
		}
		if m.hit {
			s.counts.cacheHits++
			a.content = []byte(m.answer)
			s.finish("stop", true)
			return
		}
		s.callModel(c, a)
	case *modelText:
		if a == nil || m.seq != a.seq {
			return
		}
		a.content = append(a.content, m.delta...)
		s.onText(c, a)
	case *flushTick:
		if a == nil || m.seq != a.seq {
			return
		}
		a.armed = false
		if a.sent < len(a.content) {
			s.flush(a)
		}
	case *modelRejected:
		if a == nil || m.seq != a.seq {
			return
		}
		secs := int(math.Ceil(m.retryAfter.Seconds()))
		if m.budget {
			s.fail(CodeBudgetExceeded, "today's budget for questions is spent; it renews at 00:00 UTC", max(secs, 1))
			return
		}
		s.fail(CodeRateLimited, "too many questions in a short time; try again in "+strconv.Itoa(secs)+"s", max(secs, 1))
	case *modelDone:
		if a == nil || m.seq != a.seq {
			return
		}
		a.model, a.fallback = m.model, m.fallback
		if m.err != nil {
			s.cutShort(a)
			s.fail(CodeLLMUnavailable, "the coach could not answer right now; please try again", 0)
			return
		}
		a.usage = m.usage
		if m.odd != "" {
			s.logger().Info("model finish reason outside the protocol, reported as stop",
				slog.String("answer", a.id), slog.String("model_reason", m.odd))
		}
		a.cacheable = m.cacheable
		s.finish(m.finish, false)
	}
}

// onText sends new text at once for the first frame, then at most every
// FlushInterval unless FlushBytes are pending.
func (s *session) onText(c actor.Context, a *answer) {
	o := &s.node.opts.Chat
	if a.frames == 0 {
		s.node.stats.TTFT.ObserveDuration(time.Since(a.started))
	}
	if a.frames == 0 || len(a.content)-a.sent >= o.FlushBytes {
		s.flush(a)
		return
	}
	if a.armed {
		return
	}
	wait := o.FlushInterval - time.Since(a.last)
	if wait <= 0 {
		s.flush(a)
		return
	}
	a.armed = true
	if a.timer == nil {
		root, self, seq := c.ActorSystem().Root, s.self, a.seq
		a.timer = time.AfterFunc(wait, func() { root.Send(self, &flushTick{seq: seq}) })
		return
	}
	a.timer.Reset(wait)
}

func (s *session) flush(a *answer) {
	content := string(a.content)
	a.frames++
	if a.frames == 1 {
		a.firstAt = time.Now()
	}
	s.emit(&Answer{ID: a.id, ReplyTo: a.replyTo, Content: content, Delta: content[a.sent:], Seq: a.frames})
	a.sent = len(a.content)
	a.last = time.Now()
}

// cancel ends the answer in flight with finish_reason cancelled. The text
// streamed so far is kept, in the app and in memory.
func (s *session) cancel(c actor.Context) {
	a := s.chat.cur
	if a == nil {
		return
	}
	if a.remote != nil {
		// The answer runs in the session it was resumed from: stop it there;
		// its done frame comes back forwarded.
		if a.remote != resumePending {
			c.Send(a.remote, &remoteCancel{})
			return
		}
		// Not attached yet: stop following now, and stop the answer itself
		// when its session answers the resume.
		s.cancelledResume = a.id
		s.endAnswer() // also stops the resume's timer
		return
	}
	s.finish("cancelled", false)
}

// finish sends the done frame, stores the exchange in memory and, for a
// fresh answer the model itself finished with stop, in the cache.
func (s *session) finish(reason string, cached bool) {
	a := s.chat.cur
	content := string(a.content)
	a.frames++
	s.emit(&Answer{ID: a.id, ReplyTo: a.replyTo, Content: content, Delta: content[a.sent:], Seq: a.frames,
		Done: true, Cached: cached, FinishReason: reason, Model: cmp.Or(a.model, s.node.opts.Chat.ModelName), Usage: a.usage})
	if content != "" {
		s.chat.remember(s.node.opts.Chat.HistoryMessages, a.question, content)
		s.journal(a, content, reason, cached, true)
	}
	if cached {
		a.key = "" // a hit leads nothing
	} else if a.cacheable && reason == "stop" && content != "" {
		s.settleCache(a, content)
	}
	s.counts.answers++
	s.node.stats.Answers.Add(1)
	if cached {
		s.node.stats.CachedTime.ObserveDuration(time.Since(a.started))
	} else if reason != "cancelled" {
		s.node.stats.AnswerTime.ObserveDuration(time.Since(a.started))
	}
	s.endAnswer()
}

// cutShort ends an answer the model failed after some text with a done
// frame, finish_reason error, so that an app rendering only response
// frames shows it finished; the error frame follows. Such an answer enters
// neither memory nor the cache.
func (s *session) cutShort(a *answer) {
	if len(a.content) == 0 {
		return
	}
	content := string(a.content)
	a.frames++
	s.emit(&Answer{ID: a.id, ReplyTo: a.replyTo, Content: content, Delta: content[a.sent:], Seq: a.frames,
		Done: true, FinishReason: "error", Model: cmp.Or(a.model, s.node.opts.Chat.ModelName)})
	a.sent = len(a.content)
	// It reached the user: audited, though not an exchange of memory.
	s.journal(a, content, "error", false, false)
}

// settleCache tells the cache actor how an answer that missed ended: its
// text to store (and hand to the sessions waiting on the same key), or ""
// when there is nothing to store, so that the next waiter leads. Only the
// first call for an answer counts.
func (s *session) settleCache(a *answer, text string) {
	if a == nil || a.key == "" {
		return
	}
	if text != "" {
		s.node.root.Send(s.node.cache, &cachePut{key: a.key, answer: text, from: s.self})
	} else {
		s.node.root.Send(s.node.cache, &cacheAbandon{key: a.key, from: s.self})
	}
	a.key = ""
}

// fail ends the answer in flight with an error frame; nothing of it enters
// memory.
func (s *session) fail(code Code, msg string, retryAfter int) {
	a := s.chat.cur
	s.node.stats.Reject(code)
	s.emitError(&ErrorFrame{Code: code, Message: msg, ReplyTo: a.replyTo, RetryAfter: retryAfter})
	s.endAnswer()
	if d := s.detached; d != nil && d.finished == nil {
		// Detached, and ended without a frame to resume from: nothing is
		// left to wait for (a resumer, if any, has the error).
		s.node.root.Send(s.node.registry, &answerGone{id: a.id})
		s.abandonDetached(s.nodeContext())
	}
}

func (s *session) endAnswer() {
	s.settleCache(s.chat.cur, "")
	s.chat.stop()
	if s.state == stateStreaming {
		s.setState(stateAuthenticated)
	}
}
