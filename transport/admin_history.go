package transport

import (
	"context"
	"math"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/metrics"
)

// The ring behind /stats/history. AdminOptions.HistoryInterval overrides
// the interval; the window stays 15 minutes, so the ring holds
// historyWindow/interval samples (180 by default).
const (
	defaultHistoryInterval = 5 * time.Second
	historyWindow          = 15 * time.Minute
)

// historyReport is the body of GET /stats/history:
//
//	{
//	  "interval_seconds": 5,
//	  "window_seconds": 900,
//	  "samples": [                       // oldest first, at most window/interval
//	    {
//	      "time": 1733493600.123,        // unix seconds at the end of the interval
//	      "sessions": 12,                // live sessions, any state, at that moment
//	      "answers_per_second": 0.4,     // answers completed over the interval
//	      "ttft_p99_ms": 812.3,          // p99 time to first token of the interval's
//	                                     // fresh answers; null when there were none
//	      "cache_hit_ratio": 0.25,       // hits/(hits+misses) over the interval;
//	                                     // null without a look-up
//	      "errors_per_second": 0,        // model, cache and history-write errors and
//	                                     // session failures over the interval
//	      "rejections_per_second": 0.2   // requests and connections refused, all codes
//	    }
//	  ]
//	}
//
// Rates divide a counter's change by the time the interval actually took,
// so a late tick does not inflate them. The first sample comes one
// interval after the admin handler is made.
type historyReport struct {
	IntervalSeconds float64         `json:"interval_seconds"`
	WindowSeconds   float64         `json:"window_seconds"`
	Samples         []historySample `json:"samples"`
}

// historySample is one interval of the ring; see historyReport.
type historySample struct {
	Time                float64  `json:"time"`
	Sessions            int64    `json:"sessions"`
	AnswersPerSecond    float64  `json:"answers_per_second"`
	TTFTP99MS           *float64 `json:"ttft_p99_ms"`
	CacheHitRatio       *float64 `json:"cache_hit_ratio"`
	ErrorsPerSecond     float64  `json:"errors_per_second"`
	RejectionsPerSecond float64  `json:"rejections_per_second"`
}

// historyReading is what the sampler reads of the counters at one moment;
// a sample is the difference between two readings.
type historyReading struct {
	at         time.Time
	sessions   int64
	answers    int64
	cacheHits  int64
	cacheMiss  int64
	errors     int64
	rejections int64
	ttft       []uint64 // cumulative counts below each of ttftHistoryBounds
}

// ttftHistoryBounds are the bounds, in microseconds, at which the sampler
// reads the TTFT histogram: the histogram's own buckets, eight per power
// of two, from 144 µs to about 134 s; that is the resolution /stats reports its quantiles at (within about
// 9 %), so that the interval's p99 is as exact as the overall one.
var ttftHistoryBounds = func() []uint64 {
	var out []uint64
	for exp := 7; exp < 27; exp++ {
		for sub := range 8 {
			out = append(out, uint64(8+sub+1)<<(exp-3))
		}
	}
	return out
}()

// history keeps the last window of samples. The sampler goroutine is the
// only writer; handlers copy the ring under the lock.
type history struct {
	interval time.Duration
	read     func(time.Time) historyReading
	done     chan struct{} // closed once run returns

	mu    sync.Mutex
	ring  []historySample // len == capacity once full
	next  int             // where the next sample goes once full
	last  historyReading  // the reading the next sample starts from
	taken int             // samples ever recorded
}

// newHistory returns a ring for interval (defaultHistoryInterval when not
// positive) whose first reading is taken now.
func newHistory(interval time.Duration, read func(time.Time) historyReading) *history {
	if interval <= 0 {
		interval = defaultHistoryInterval
	}
	size := max(int(historyWindow/interval), 1)
	return &history{interval: interval, read: read, done: make(chan struct{}),
		ring: make([]historySample, 0, size), last: read(time.Now())}
}

// run records a sample every interval until ctx ends, then closes h.done.
func (h *history) run(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.tick(now)
		}
	}
}

// tick reads the counters and records the sample since the last reading.
func (h *history) tick(now time.Time) {
	cur := h.read(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	s := sampleBetween(h.last, cur)
	h.last = cur
	if len(h.ring) < cap(h.ring) {
		h.ring = append(h.ring, s)
	} else {
		h.ring[h.next] = s
		h.next = (h.next + 1) % len(h.ring)
	}
	h.taken++
}

// samples returns the ring oldest first.
func (h *history) samples() []historySample {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]historySample, 0, len(h.ring))
	out = append(out, h.ring[h.next:]...)
	return append(out, h.ring[:h.next]...)
}

func (h *history) serve(w http.ResponseWriter, _ *http.Request) {
	writeAdminJSON(w, http.StatusOK, historyReport{IntervalSeconds: h.interval.Seconds(),
		WindowSeconds: historyWindow.Seconds(), Samples: h.samples()})
}

// sampleBetween is the sample of the interval from prev to cur.
func sampleBetween(prev, cur historyReading) historySample {
	s := historySample{Time: roundTo(float64(cur.at.UnixMilli())/1000, 3), Sessions: cur.sessions}
	secs := cur.at.Sub(prev.at).Seconds()
	rate := func(a, b int64) float64 {
		if secs <= 0 || b <= a {
			return 0
		}
		return roundTo(float64(b-a)/secs, 3)
	}
	s.AnswersPerSecond = rate(prev.answers, cur.answers)
	s.ErrorsPerSecond = rate(prev.errors, cur.errors)
	s.RejectionsPerSecond = rate(prev.rejections, cur.rejections)
	if hits, looked := cur.cacheHits-prev.cacheHits, cur.cacheHits+cur.cacheMiss-prev.cacheHits-prev.cacheMiss; looked > 0 {
		r := roundTo(float64(hits)/float64(looked), 4)
		s.CacheHitRatio = &r
	}
	if p, ok := intervalQuantile(prev.ttft, cur.ttft, 0.99); ok {
		ms := roundTo(float64(p)/1000, 3)
		s.TTFTP99MS = &ms
	}
	return s
}

// intervalQuantile is quantile q of the values observed between two
// cumulative readings at ttftHistoryBounds: the bound of the first bucket
// that reaches the rank, as /stats and histogram_quantile's buckets do.
// Values past the last bound count as the last bound. ok is false when
// nothing was observed in between.
func intervalQuantile(prev, cur []uint64, q float64) (uint64, bool) {
	if len(cur) == 0 || len(prev) != len(cur) {
		return 0, false
	}
	last := len(cur) - 1
	total := cur[last] - min(prev[last], cur[last])
	if total == 0 {
		return 0, false
	}
	rank := max(uint64(math.Ceil(q*float64(total))), 1)
	for i := range cur {
		if cur[i]-min(prev[i], cur[i]) >= rank {
			return ttftHistoryBounds[i], true
		}
	}
	return ttftHistoryBounds[last], true
}

// readHistory reads the counters a sample is made of. The TTFT bounds end
// with one past any observation (math.MaxUint64), so the last cumulative
// count is the histogram's total.
func readHistory(st *actors.Stats) func(time.Time) historyReading {
	bounds := append(append([]uint64(nil), ttftHistoryBounds...), math.MaxUint64)
	return func(now time.Time) historyReading {
		r := historyReading{
			at:        now,
			sessions:  st.Unauthenticated.Load() + st.Authenticated.Load() + st.Streaming.Load(),
			answers:   st.Answers.Load(),
			cacheHits: st.CacheHits.Load(),
			cacheMiss: st.CacheMisses.Load(),
			errors: st.LLMErrors.Load() + st.CacheErrors.Load() + st.HistoryErrors.Load() +
				st.SessionFailures.Load(),
			ttft: cumulativeWithTotal(&st.TTFT, bounds),
		}
		for _, n := range st.Rejections() {
			r.rejections += n
		}
		return r
	}
}

// cumulativeWithTotal reads h at bounds, the last of which is
// math.MaxUint64, and folds that last count into the previous bound, so
// that values past ttftHistoryBounds count at its last bound and the
// result lines up with ttftHistoryBounds.
func cumulativeWithTotal(h *metrics.Histogram, bounds []uint64) []uint64 {
	c := h.Cumulative(bounds)
	n := len(c) - 1
	c[n-1] = c[n]
	return c[:n]
}

// startHistory starts the sampler of o's node; it runs until o.Context
// ends or stop is called.
func startHistory(o AdminOptions) (h *history, stop context.CancelFunc) {
	parent := o.Context
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	h = newHistory(o.HistoryInterval, readHistory(o.Node.Stats()))
	go h.run(ctx)
	return h, cancel
}

// adminHandler is the handler NewAdmin returns. It owns the history
// sampler, so that a handler dropped without its Context ending (a test's,
// say) does not leave a goroutine ticking for the life of the process.
type adminHandler struct {
	http.Handler
	history *history
}

// ownedBy returns next as the owner of h, whose sampler stop ends once the
// owner is garbage collected. Neither h nor stop refers to the owner, or
// it never would be.
func ownedBy(next http.Handler, h *history, stop context.CancelFunc) http.Handler {
	owner := &adminHandler{Handler: next, history: h}
	runtime.AddCleanup(owner, func(stop context.CancelFunc) { stop() }, stop)
	return owner
}
