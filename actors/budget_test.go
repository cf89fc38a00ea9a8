package actors

import (
	"context"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
)

// usageModel answers one word, then reports prompt and completion tokens
// in a usage chunk of its own, as OpenAI does with include_usage.
type usageModel struct{ prompt, completion int }

func (m usageModel) Stream(ctx context.Context, _ ModelRequest) (ModelStream, error) {
	return &usageStream{ctx: ctx, m: m}, nil
}

type usageStream struct {
	ctx  context.Context
	m    usageModel
	sent int
}

func (s *usageStream) Recv() (ModelChunk, error) {
	if err := s.ctx.Err(); err != nil {
		return ModelChunk{}, err
	}
	s.sent++
	switch s.sent {
	case 1:
		return ModelChunk{Delta: "saving ", FinishReason: "stop"}, nil
	case 2:
		return ModelChunk{PromptTokens: s.m.prompt, CompletionTokens: s.m.completion}, nil
	}
	return ModelChunk{}, io.EOF
}

func (s *usageStream) Close() error { return nil }

// testClock is a settable clock for ChatOptions.Now.
type testClock struct{ t atomic.Int64 }

func (c *testClock) set(t time.Time) { c.t.Store(t.UnixNano()) }
func (c *testClock) now() time.Time  { return time.Unix(0, c.t.Load()).UTC() }

func TestDailyBudget(t *testing.T) {
	clock := new(testClock)
	clock.set(time.Date(2025, 3, 10, 23, 58, 59, 500e6, time.UTC)) // 60.5s to midnight
	n := newTestNode(t, func(o *Options) {
		o.Chat.Model = usageModel{prompt: 10, completion: 30} // 40 an answer
		o.Chat.DailyTokens = 50
		o.Chat.Now = clock.now
		o.Chat.RatePerMinute = 6000 // only the budget refuses here
		o.Chat.Burst = 100
	})
	spend := func() Spend {
		t.Helper()
		s, err := n.UserSpend("u", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	h, p := open(t, n, "u")
	ask := func(id string) any {
		h.Send(&ChatMessage{ID: id, Content: "question " + id})
		for {
			switch e := p.next(t).(type) {
			case *Answer:
				if e.Done {
					return e
				}
			case *ErrorFrame:
				return e
			}
		}
	}
	// The first answer leaves 10 tokens; the second crosses the budget and
	// is still answered.
	for i := range 2 {
		id := "q" + strconv.Itoa(i)
		if got := ask(id); !isAnswerTo(got, id) {
			t.Fatalf("%s: want an answer, got %+v", id, got)
		}
	}
	if s := spend(); s.TokensToday != 80 || s.Budget != 50 {
		t.Fatalf("spend %+v, want 80 of 50", s)
	}
	got := ask("q2")
	if e, ok := got.(*ErrorFrame); !ok || e.Code != CodeBudgetExceeded || e.ReplyTo != "q2" || e.RetryAfter != 61 {
		t.Fatalf("want budget_exceeded, reply_to q2, retry_after 61 (60.5s rounded up), got %+v", got)
	}
	if s := spend(); s.TokensToday != 80 {
		t.Fatalf("a refused ask changed the spend: %+v", s)
	}

	// The user leaves; once the model actor stops, the spend stays with the
	// node and a new session the same day is still refused.
	h.Send(&Disconnected{CloseCode: 1000})
	testutil.WaitFor(t, 5*time.Second, "the model actor to stop", func() bool {
		return n.Live() == 0 && n.Kind(KindModel).Live.Load() == 0
	})
	if s := spend(); s.TokensToday != 80 {
		t.Fatalf("spend %+v after the model actor stopped, want 80", s)
	}
	h, p = open(t, n, "u")
	if got := ask("q3"); !isBudgetExceeded(got) {
		t.Fatalf("reconnecting reset the budget: %+v", got)
	}

	// At 00:00 UTC the budget renews.
	clock.set(time.Date(2025, 3, 11, 0, 0, 0, 0, time.UTC))
	if s := spend(); s.TokensToday != 0 {
		t.Fatalf("spend %+v at midnight, want 0", s)
	}
	if got := ask("q4"); !isAnswerTo(got, "q4") {
		t.Fatalf("want an answer after midnight, got %+v", got)
	}
	if s := spend(); s.TokensToday != 40 {
		t.Fatalf("spend %+v, want 40", s)
	}
}

func isAnswerTo(e any, id string) bool {
	a, ok := e.(*Answer)
	return ok && a.Done && a.ReplyTo == id
}

func isBudgetExceeded(e any) bool {
	f, ok := e.(*ErrorFrame)
	return ok && f.Code == CodeBudgetExceeded
}

func TestBudgetOff(t *testing.T) {
	n := newTestNode(t, func(o *Options) {
		o.Chat.Model = usageModel{prompt: 1000, completion: 1000}
		o.Chat.RatePerMinute = 6000
		o.Chat.Burst = 100
	})
	h, p := open(t, n, "u")
	for i := range 3 {
		h.Send(&ChatMessage{Content: "q" + strconv.Itoa(i)})
		p.answer(t)
	}
	if s, err := n.UserSpend("u", time.Second); err != nil || s.TokensToday != 6000 || s.Budget != 0 {
		t.Fatalf("spend %+v, %v; want 6000 counted, no budget", s, err)
	}
}

func TestBudgetRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		now  time.Time
		want time.Duration
	}{
		{"just after midnight", time.Date(2025, 1, 1, 0, 0, 0, 1, time.UTC), 24*time.Hour - 1},
		{"noon", time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), 12 * time.Hour},
		{"a second before midnight", time.Date(2025, 1, 1, 23, 59, 59, 0, time.UTC), time.Second},
		{"another zone's clock", time.Date(2025, 1, 1, 23, 0, 0, 0, time.FixedZone("UTC+2", 2*3600)), 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := budget{limit: 10}
			b.add(tt.now, 10)
			over, wait := b.over(tt.now)
			if !over || wait != tt.want {
				t.Errorf("over %v, wait %v; want true, %v", over, wait, tt.want)
			}
			if over, _ := b.over(tt.now.Add(wait)); over {
				t.Error("still over at 00:00 UTC")
			}
		})
	}
}
