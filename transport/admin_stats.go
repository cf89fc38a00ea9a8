package transport

import (
	"bytes"
	"math"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/cluster"
	"github.com/wealthwarriors/wealthcoach/internal/metrics"
	"github.com/wealthwarriors/wealthcoach/transport/llm"
)

// statsReport is the body of /stats. Every number is read from an atomic
// or from the runtime; building it never waits on an actor.
type statsReport struct {
	UptimeSeconds int64                  `json:"uptime_seconds"`
	Build         string                 `json:"build"`
	Sessions      sessionCounts          `json:"sessions"`
	Users         int64                  `json:"users"`
	Actors        map[string]actorCounts `json:"actors"`
	Rejections    map[actors.Code]int64  `json:"rejections"`
	Cache         cacheCounts            `json:"cache"`
	History       historyCounts          `json:"history"`
	LLM           llmCounts              `json:"llm"`
	LatencyMS     latencyReport          `json:"latency_ms"`
	Transport     transportCounts        `json:"transport"`
	Process       processCounts          `json:"process"`
	// Providers are the model providers, primary first, then llm.fallbacks.
	Providers []llm.ProviderStats `json:"providers"`
	// Cluster is the fleet, when cluster.enabled is on (SPEC 8.4).
	Cluster *cluster.View `json:"cluster,omitempty"`
}

type sessionCounts struct {
	Unauthenticated int64 `json:"unauthenticated"`
	Authenticated   int64 `json:"authenticated"`
	Streaming       int64 `json:"streaming"`
	Opened          int64 `json:"opened"`
	Closed          int64 `json:"closed"`
	Failures        int64 `json:"failures"`
	Stopped         int64 `json:"stopped"`
}

type actorCounts struct {
	Live           int64 `json:"live"`
	Processed      int64 `json:"processed"`
	Restarts       int64 `json:"restarts"`
	DeepestMailbox int64 `json:"deepest_mailbox"`
}

type cacheCounts struct {
	Hits        int64   `json:"hits"`
	Misses      int64   `json:"misses"`
	Errors      int64   `json:"errors"`
	Stores      int64   `json:"stores"`
	HitRatio    float64 `json:"hit_ratio"`
	Coalesced   int64   `json:"coalesced"`
	Skipped     int64   `json:"skipped"`
	BreakerOpen bool    `json:"breaker_open"`
}

// historyCounts are the journal writer's, in exchanges.
type historyCounts struct {
	Queued  int64 `json:"queued"`
	Written int64 `json:"written"`
	Dropped int64 `json:"dropped"`
	Errors  int64 `json:"errors"`
	Batches int64 `json:"batches"`
	Rows    int64 `json:"rows"`
}

type llmCounts struct {
	InFlight    int64     `json:"in_flight"`
	Requests    int64     `json:"requests"`
	Errors      int64     `json:"errors"`
	RateLimited int64     `json:"rate_limited"`
	Retries     int64     `json:"retries"`
	TokensIn    int64     `json:"tokens_in"`
	TokensOut   int64     `json:"tokens_out"`
	TTFT        quantiles `json:"ttft_ms"`
	Answer      quantiles `json:"answer_ms"`
}

type latencyReport struct {
	Auth         quantiles `json:"auth"`
	CachedAnswer quantiles `json:"cached_answer"`
}

// quantiles are in milliseconds, each the upper bound of the histogram
// bucket holding it (within about 9 %).
type quantiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

type transportCounts struct {
	Upgrades       int64 `json:"upgrades"`
	UpgradeErrors  int64 `json:"upgrade_errors"`
	OriginsRefused int64 `json:"origins_refused"`
	PerIPRefused   int64 `json:"per_ip_refused"`
	AcceptErrors   int64 `json:"accept_errors"`
	FramesIn       int64 `json:"frames_in"`
	FramesOut      int64 `json:"frames_out"`
	BytesIn        int64 `json:"bytes_in"`
	BytesOut       int64 `json:"bytes_out"`
	FloodDropped   int64 `json:"flood_dropped"`
	SlowDropped    int64 `json:"slow_dropped"`
	SilentDropped  int64 `json:"silent_dropped"`
	OpenSockets    int64 `json:"open_sockets"`
}

type processCounts struct {
	Goroutines     int    `json:"goroutines"`
	HeapAllocBytes uint64 `json:"heap_alloc_bytes"`
	HeapSysBytes   uint64 `json:"heap_sys_bytes"`
	RSSBytes       uint64 `json:"rss_bytes"`
	GCCycles       uint32 `json:"gc_cycles"`
}

func (a *admin) stats(w http.ResponseWriter, _ *http.Request) {
	writeAdminJSON(w, http.StatusOK, a.report())
}

func (a *admin) report() statsReport {
	st := a.node.Stats()
	r := statsReport{
		UptimeSeconds: int64(st.Uptime().Seconds()),
		Build:         a.build,
		Sessions: sessionCounts{
			Unauthenticated: st.Unauthenticated.Load(),
			Authenticated:   st.Authenticated.Load(),
			Streaming:       st.Streaming.Load(),
			Opened:          st.SessionsOpened.Load(),
			Closed:          st.SessionsClosed.Load(),
			Failures:        st.SessionFailures.Load(),
			Stopped:         st.SessionsStopped.Load(),
		},
		Users:      st.Users.Load(),
		Actors:     make(map[string]actorCounts, len(actors.Kinds)),
		Rejections: st.Rejections(),
		Cache:      cacheReport(st),
		History: historyCounts{Queued: st.HistoryQueued.Load(), Written: st.HistoryWritten.Load(),
			Dropped: st.HistoryDropped.Load(), Errors: st.HistoryErrors.Load(),
			Batches: st.HistoryBatches.Load(), Rows: st.HistoryRows.Load()},
		LLM: llmCounts{
			InFlight:    st.LLMInFlight.Load(),
			Requests:    st.LLMRequests.Load(),
			Errors:      st.LLMErrors.Load(),
			RateLimited: st.LLMRateLimited.Load(),
			Retries:     st.LLMRetries.Load(),
			TokensIn:    st.TokensIn.Load(),
			TokensOut:   st.TokensOut.Load(),
			TTFT:        quantilesOf(&st.TTFT),
			Answer:      quantilesOf(&st.AnswerTime),
		},
		LatencyMS: latencyReport{Auth: quantilesOf(&st.AuthTime), CachedAnswer: quantilesOf(&st.CachedTime)},
		Transport: a.transportReport(),
		Process:   processReport(),
		Providers: append([]llm.ProviderStats{}, a.providers()...), // [] rather than null
	}
	if a.fleet != nil {
		v := a.fleet.Report()
		r.Cluster = &v
	}
	for _, kind := range actors.Kinds {
		if k := a.node.Kind(kind); k != nil {
			r.Actors[kind] = actorCounts{Live: k.Live.Load(), Processed: k.Processed.Load(),
				Restarts: k.Restarts.Load(), DeepestMailbox: k.DeepestMailbox()}
		}
	}
	return r
}

func cacheReport(st *actors.Stats) cacheCounts {
	c := cacheCounts{Hits: st.CacheHits.Load(), Misses: st.CacheMisses.Load(), Errors: st.CacheErrors.Load(),
		Stores: st.CacheStores.Load(), Coalesced: st.CacheCoalesced.Load(), Skipped: st.CacheSkipped.Load(),
		BreakerOpen: st.CacheBreakerOpen.Load()}
	if looked := c.Hits + c.Misses; looked > 0 {
		c.HitRatio = roundTo(float64(c.Hits)/float64(looked), 4)
	}
	return c
}

func (a *admin) transportReport() transportCounts {
	s := a.ws
	return transportCounts{
		Upgrades:       s.Upgrades.Load(),
		UpgradeErrors:  s.UpgradeErrors.Load(),
		OriginsRefused: s.OriginsRefused.Load(),
		PerIPRefused:   s.PerIPRefused.Load(),
		AcceptErrors:   s.AcceptErrors.Load(),
		FramesIn:       s.FramesIn.Load(),
		FramesOut:      s.FramesOut.Load(),
		BytesIn:        s.BytesIn.Load(),
		BytesOut:       s.BytesOut.Load(),
		FloodDropped:   s.FloodDropped.Load(),
		SlowDropped:    s.SlowDropped.Load(),
		SilentDropped:  s.SilentDropped.Load(),
		OpenSockets:    s.Live.Load(),
	}
}

// quantilesOf reads p50, p95 and p99 of a histogram of microseconds.
func quantilesOf(h *metrics.Histogram) quantiles {
	ms := func(q float64) float64 { return roundTo(float64(h.DurationQuantile(q))/float64(time.Millisecond), 3) }
	return quantiles{P50: ms(0.50), P95: ms(0.95), P99: ms(0.99)}
}

// processReport reads the runtime's memory statistics. ReadMemStats stops
// the world for a few microseconds, which is fine at operator polling
// rates.
func processReport() processCounts {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return processCounts{
		Goroutines:     runtime.NumGoroutine(),
		HeapAllocBytes: m.HeapAlloc,
		HeapSysBytes:   m.HeapSys,
		RSSBytes:       residentBytes(),
		GCCycles:       m.NumGC,
	}
}

// residentBytes is the process's resident set size from /proc/self/statm
// (its second field, in pages), or 0 where there is no such file.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(string(fields[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

func roundTo(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}
