package llmfake

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
)

const (
	defaultTokens      = 40
	defaultModel       = "llmfake-1"
	defaultMaxRecorded = 1000
	maxBodyBytes       = 4 << 20
)

// Options configures a Server.
type Options struct {
	// Tokens is the answer length in words (one word per chunk). Zero means
	// 40. With IgnoreMaxTokens, a large value makes a model that streams
	// practically without end.
	Tokens int
	// IgnoreMaxTokens streams Tokens words whatever the request's
	// max_tokens says, as a model that ignores it would.
	IgnoreMaxTokens bool
	// FinishReason is the finish_reason of answers that max_tokens did not
	// cut. Empty means "stop"; any other text is sent as is, as a provider
	// may send content_filter, tool_calls or a reason of its own.
	FinishReason string
	// Words, when set, replaces the built-in English vocabulary answers are
	// drawn from, for example with words of multi-byte characters.
	Words []string
	// FirstTokenDelay is the pause before the first token; zero means none.
	FirstTokenDelay time.Duration
	// TokenDelay is the pause before each later token; zero means none.
	TokenDelay time.Duration
	// Model is the model name in responses and /v1/models. Empty echoes the
	// request's model, or "llmfake-1" when the request names none.
	Model string
	// FailRate is the probability in [0, 1] that a chat request fails with
	// FailStatus. Zero means never.
	FailRate float64
	// FailStatus is the status of random failures. Zero means 500.
	FailStatus int
	// CutRate is the probability that a chat request's stream is dropped
	// midway (after half its tokens), as a crashing upstream would.
	CutRate float64
	// HangRate is the probability that a chat request is accepted and then
	// sends nothing until the client gives up, as a stalled upstream would.
	HangRate float64
	// Seed seeds the random failures; equal seeds give equal sequences.
	Seed int64
	// APIKey, when set, is required as "Authorization: Bearer <APIKey>";
	// other requests get 401. Empty accepts any request.
	APIKey string
	// MaxRecorded is how many of the latest chat requests Requests keeps.
	// Zero means 1000; negative keeps none.
	MaxRecorded int
}

func (o Options) withDefaults() Options {
	if o.Tokens <= 0 {
		o.Tokens = defaultTokens
	}
	if o.FinishReason == "" {
		o.FinishReason = "stop"
	}
	if o.FailStatus == 0 {
		o.FailStatus = http.StatusInternalServerError
	}
	switch {
	case o.MaxRecorded == 0:
		o.MaxRecorded = defaultMaxRecorded
	case o.MaxRecorded < 0:
		o.MaxRecorded = 0
	}
	return o
}

// Failure is a one-shot failure queued with FailNext.
type Failure struct {
	// Status, when non-zero, answers the request with this status and an
	// OpenAI-style JSON error body before any token.
	Status int
	// RetryAfter, with Status, is sent as Retry-After (whole seconds,
	// rounded up) and retry-after-ms.
	RetryAfter time.Duration
	// CutAfter streams this many tokens before the failure. Alone, it then
	// drops the connection without ending the response.
	CutAfter int
	// Hang stops sending after CutAfter tokens (0: before the first) and
	// holds the request until the client goes away or Close is called.
	Hang bool
	// ErrorChunk sends a `data: {"error":...}` event after CutAfter tokens
	// and ends the response.
	ErrorChunk bool
}

// Recorded is a chat request as the server decoded it.
type Recorded struct {
	Model        string
	Messages     []actors.ModelMessage
	Stream       bool
	IncludeUsage bool
	MaxTokens    int
	Temperature  *float64
	Time         time.Time
}

// Server is the fake model server; it is an http.Handler.
type Server struct {
	opts  Options
	forms []wordForms // the vocabulary's pre-encoded spellings
	mux   *http.ServeMux
	done  chan struct{}
	stop  sync.Once
	ids   atomic.Uint64

	requests  atomic.Int64
	active    atomic.Int64
	cancelled atomic.Int64

	mu       sync.Mutex
	queue    []Failure
	finishes []string   // queued with FinishNext
	recorded []Recorded // ring of the latest MaxRecorded, oldest at head
	head     int
	rng      *rand.Rand
}

var _ http.Handler = (*Server)(nil)

// New returns a Server.
func New(o Options) *Server {
	o = o.withDefaults()
	s := &Server{
		opts:  o,
		forms: englishForms,
		mux:   http.NewServeMux(),
		done:  make(chan struct{}),
		rng:   rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed)),
	}
	if len(o.Words) > 0 {
		s.forms = makeForms(o.Words)
	}
	s.mux.HandleFunc("POST /v1/chat/completions", s.handleChat)
	s.mux.HandleFunc("GET /v1/models", s.handleModels)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.APIKey != "" && !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key", 0)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	want := "Bearer " + s.opts.APIKey
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) == 1
}

// FailNext queues f for the next chat request; queued failures are consumed
// one per request, in order.
func (s *Server) FailNext(f Failure) {
	s.mu.Lock()
	s.queue = append(s.queue, f)
	s.mu.Unlock()
}

// FinishNext makes the next answered chat request end with finish_reason
// reason, whatever Options.FinishReason and max_tokens say. Queued reasons
// are consumed one per request that gets an answer (a queued Failure with a
// Status consumes none), in order.
func (s *Server) FinishNext(reason string) {
	s.mu.Lock()
	s.finishes = append(s.finishes, reason)
	s.mu.Unlock()
}

// nextFinish pops a reason queued with FinishNext.
func (s *Server) nextFinish() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.finishes) == 0 {
		return "", false
	}
	r := s.finishes[0]
	s.finishes = s.finishes[1:]
	return r, true
}

// Requests returns the latest recorded chat requests, oldest first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, 0, len(s.recorded))
	out = append(out, s.recorded[s.head:]...)
	return append(out, s.recorded[:s.head]...)
}

// RequestCount is the number of chat requests received, failed ones
// included.
func (s *Server) RequestCount() int64 { return s.requests.Load() }

// Active is the number of chat requests being answered.
func (s *Server) Active() int { return int(s.active.Load()) }

// Cancelled is the number of streams whose client went away before the
// end.
func (s *Server) Cancelled() int64 { return s.cancelled.Load() }

// WaitIdle waits until no request is being answered or ctx is done.
func (s *Server) WaitIdle(ctx context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for s.Active() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Close ends every request in progress, stalled ones included, and makes
// later chat requests fail with 503. Call it before closing the
// http.Server, whose shutdown waits for handlers.
func (s *Server) Close() {
	s.stop.Do(func() { close(s.done) })
}

func (s *Server) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// nextFailure pops a queued failure or draws a random one.
func (s *Server) nextFailure() (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		f := s.queue[0]
		s.queue = s.queue[1:]
		return f, true
	}
	// One draw picks at most one kind of failure: the rates add up.
	x := s.rng.Float64()
	switch o := &s.opts; {
	case x < o.FailRate:
		return Failure{Status: o.FailStatus}, true
	case x < o.FailRate+o.CutRate:
		return Failure{CutAfter: max(o.Tokens/2, 1)}, true
	case x < o.FailRate+o.CutRate+o.HangRate:
		return Failure{Hang: true}, true
	}
	return Failure{}, false
}

func (s *Server) record(r Recorded) {
	if s.opts.MaxRecorded == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recorded) < s.opts.MaxRecorded {
		s.recorded = append(s.recorded, r)
		return
	}
	s.recorded[s.head] = r
	s.head = (s.head + 1) % len(s.recorded)
}

func (s *Server) model(requested string) string {
	switch {
	case s.opts.Model != "":
		return s.opts.Model
	case requested != "":
		return requested
	}
	return defaultModel
}

func (s *Server) handleModels(w http.ResponseWriter, _ *http.Request) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	body := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{"list", []model{{ID: s.model(""), Object: "model", Created: 1700000000, OwnedBy: "llmfake"}}}
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers in OpenAI's error format.
func writeError(w http.ResponseWriter, status int, msg, typ, code string, retryAfter time.Duration) {
	type apiError struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	e := apiError{Message: msg, Type: typ}
	if code != "" {
		e.Code = &code
	}
	if retryAfter > 0 {
		secs := (retryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
		w.Header().Set("Retry-After-Ms", strconv.FormatInt(retryAfter.Milliseconds(), 10))
	}
	writeJSON(w, status, struct {
		Error apiError `json:"error"`
	}{e})
}
