package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// Breaker defaults, as SPEC 8.5 states them.
const (
	defaultBreakerFailures = 5
	defaultBreakerCooldown = 30 * time.Second
)

// ErrAllProvidersOpen is the cause of the *Error a Chain returns when every
// provider is cooling down after failures in a row.
var ErrAllProvidersOpen = errors.New("every model provider is cooling down after repeated failures")

// BreakerOptions configures a provider's circuit breaker.
type BreakerOptions struct {
	// Failures is how many failed attempts in a row, retries included, open
	// the breaker. Zero means 5.
	Failures int
	// Cooldown is how long an open breaker skips the provider before one
	// request is let through to probe it. Zero means 30s.
	Cooldown time.Duration
}

// Breaker states as /stats and /metrics show them.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half_open"
)

// Breaker counts one provider's attempts and skips the provider after
// Failures failed attempts in a row: open for Cooldown, then half-open, when
// one request probes it; the probe's success closes it, its failure opens it
// again. It is safe for concurrent use.
type Breaker struct {
	opts BreakerOptions

	requests atomic.Int64 // attempts, retries included
	errors   atomic.Int64 // failed attempts

	mu       sync.Mutex
	inARow   int
	open     bool
	openedAt time.Time
	probing  bool // the half-open probe is in flight
}

// NewBreaker returns a closed breaker.
func NewBreaker(o BreakerOptions) *Breaker {
	if o.Failures <= 0 {
		o.Failures = defaultBreakerFailures
	}
	if o.Cooldown <= 0 {
		o.Cooldown = defaultBreakerCooldown
	}
	return &Breaker{opts: o}
}

// OnRetry counts a failed attempt that the provider's client retries; it
// has the shape of OpenAIOptions.OnRetry so that retries count toward the
// breaker as the requests they are.
func (b *Breaker) OnRetry(int, error) {
	b.requests.Add(1)
	b.failure()
}

// allow reports whether a request may go to the provider now. In the
// half-open state it admits one probe at a time; the caller then reports
// exactly one of success, failure or abandon.
func (b *Breaker) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.open:
		return true
	case b.probing || now.Sub(b.openedAt) < b.opts.Cooldown:
		return false
	}
	b.probing = true
	return true
}

func (b *Breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inARow, b.open, b.probing = 0, false, false
}

func (b *Breaker) failure() {
	b.errors.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inARow++
	switch {
	case b.probing:
		// The probe failed: another full cooldown.
		b.probing = false
		b.openedAt = time.Now()
	case !b.open && b.inARow >= b.opts.Failures:
		b.open, b.openedAt = true, time.Now()
	}
}

// abandon ends a request the caller gave up on, which says nothing about
// the provider.
func (b *Breaker) abandon() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}

// State is closed, open or half_open (cooldown over, or a probe in flight).
func (b *Breaker) State() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.open:
		return BreakerClosed
	case b.probing || time.Since(b.openedAt) >= b.opts.Cooldown:
		return BreakerHalfOpen
	}
	return BreakerOpen
}

// Provider is one model server a Chain may ask.
type Provider struct {
	Model     actors.Model
	ModelName string   // sent as the request's model and reported on the first chunk
	Breaker   *Breaker // nil means one with the default options
}

// ProviderStats is a snapshot of one provider's counters.
type ProviderStats struct {
	Index    int    `json:"index"` // 0 for the primary, then the fallbacks in order
	Model    string `json:"model"`
	Requests int64  `json:"requests"` // attempts, retries included
	Errors   int64  `json:"errors"`   // failed attempts
	Breaker  string `json:"breaker"`  // closed, open or half_open
}

// Chain is an actors.Model over a primary provider and its fallbacks
// (SPEC 8.5). A request goes to the first provider whose breaker lets it
// through; one that fails before its first chunk, after its own retries,
// hands the request to the next. Once a chunk arrives the answer stays with
// that provider: a later failure ends the stream as it would without a
// chain. The first chunk names the provider's model, and Fallback is set
// when it is not the primary.
type Chain struct {
	providers []Provider
}

var _ actors.Model = (*Chain)(nil)

// NewChain returns a chain trying providers in order. It panics without a
// provider, a programming error.
func NewChain(providers ...Provider) *Chain {
	if len(providers) == 0 {
		panic("llm: NewChain needs a provider")
	}
	ps := make([]Provider, len(providers))
	for i, p := range providers {
		if p.Breaker == nil {
			p.Breaker = NewBreaker(BreakerOptions{})
		}
		ps[i] = p
	}
	return &Chain{providers: ps}
}

// Stats returns each provider's counters, primary first.
func (c *Chain) Stats() []ProviderStats {
	out := make([]ProviderStats, len(c.providers))
	for i, p := range c.providers {
		out[i] = ProviderStats{Index: i, Model: p.ModelName, Requests: p.Breaker.requests.Load(),
			Errors: p.Breaker.errors.Load(), Breaker: p.Breaker.State()}
	}
	return out
}

// Stream implements actors.Model.
func (c *Chain) Stream(ctx context.Context, r actors.ModelRequest) (actors.ModelStream, error) {
	var errs []error
	for i, p := range c.providers {
		b := p.Breaker
		if !b.allow(time.Now()) {
			continue
		}
		req := r
		req.Model = p.ModelName
		b.requests.Add(1)
		first, s, err := start(ctx, p.Model, req)
		if err != nil {
			if ctx.Err() != nil {
				// The caller gave up (cancel, disconnect, timeout): no
				// verdict on the provider, and no point asking another.
				b.abandon()
				return nil, err
			}
			b.failure()
			errs = append(errs, fmt.Errorf("provider %d (%s): %w", i, p.ModelName, err))
			continue
		}
		b.success()
		first.Model, first.Fallback = p.ModelName, i > 0
		return &chainStream{ctx: ctx, inner: s, breaker: b, peeked: first, hasPeek: true}, nil
	}
	switch len(errs) {
	case 0:
		return nil, &Error{Retryable: true, Err: ErrAllProvidersOpen}
	case 1:
		// One provider tried: its error as it is, for callers that inspect it.
		return nil, errors.Unwrap(errs[0])
	}
	return nil, errors.Join(errs...)
}

// start opens a stream and reads its first chunk. An answer that ends at
// once (io.EOF) counts as started: the provider answered.
func start(ctx context.Context, m actors.Model, req actors.ModelRequest) (actors.ModelChunk, actors.ModelStream, error) {
	s, err := m.Stream(ctx, req)
	if err != nil {
		return actors.ModelChunk{}, nil, err
	}
	first, err := s.Recv()
	if errors.Is(err, io.EOF) {
		return actors.ModelChunk{}, &endedStream{inner: s}, nil
	}
	if err != nil {
		_ = s.Close()
		return actors.ModelChunk{}, nil, err
	}
	return first, s, nil
}

// chainStream is the stream of the provider that answered: it hands back
// the first chunk, then counts a failure after it toward the breaker.
type chainStream struct {
	ctx     context.Context
	inner   actors.ModelStream
	breaker *Breaker
	peeked  actors.ModelChunk
	hasPeek bool
	failed  bool
	closed  atomic.Bool
}

func (s *chainStream) Recv() (actors.ModelChunk, error) {
	if s.hasPeek {
		c := s.peeked
		s.hasPeek, s.peeked = false, actors.ModelChunk{}
		return c, nil
	}
	c, err := s.inner.Recv()
	if err != nil && !errors.Is(err, io.EOF) && !s.failed && !s.closed.Load() && s.ctx.Err() == nil {
		s.failed = true
		s.breaker.failure()
	}
	return c, err
}

func (s *chainStream) Close() error {
	s.closed.Store(true)
	return s.inner.Close()
}

// endedStream is a stream whose first Recv already returned io.EOF.
type endedStream struct{ inner actors.ModelStream }

func (s *endedStream) Recv() (actors.ModelChunk, error) { return actors.ModelChunk{}, io.EOF }
func (s *endedStream) Close() error                     { return s.inner.Close() }
