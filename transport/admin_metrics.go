package transport

import (
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/metrics"
	"github.com/wealthwarriors/wealthcoach/transport/llm"
)

// metricsHandler serves /metrics from a registry of its own, so that
// nothing registered globally (by a library, say) leaks into it and two
// handlers in one process (tests) do not collide.
func (a *admin) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newAdminCollector(a),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	})
}

// adminCollector turns the node's and the endpoint's atomics into metrics
// on every scrape, so the hot paths keep counting with plain atomics and
// nothing is copied between scrapes. Labels take a handful of fixed values
// (state, kind, code, direction, reason, result); never a user or session
// id.
type adminCollector struct {
	values []valueMetric
	hists  []histogramMetric
}

// valueMetric is one counter or gauge family.
type valueMetric struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	read func() []seriesValue // one entry per series
}

// seriesValue is one series' value and the value of its label, if any.
type seriesValue struct {
	label string
	value int64
}

// histogramMetric is one histogram family built from metrics.Histogram.
type histogramMetric struct {
	desc   *prometheus.Desc
	series []histogramSeries
	scale  float64   // metric unit per histogram unit, e.g. 1e-6 for µs to seconds
	bounds []float64 // upper bounds in the metric unit
}

type histogramSeries struct {
	label string // "" when the family has no label
	h     *metrics.Histogram
}

// Bucket bounds, in seconds or bytes. The histograms underneath keep
// eight buckets per power of two, so these only choose what is exported.
var (
	handshakeBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	ttftBuckets      = []float64{.05, .1, .25, .5, .75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60}
	answerBuckets    = []float64{.25, .5, 1, 2, 3, 5, 8, 12, 20, 30, 45, 60, 120}
	cachedBuckets    = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	batchBuckets     = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500}
	writeBuckets     = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	frameBuckets     = []float64{64, 128, 256, 512, 1 << 10, 2 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10}
)

func newAdminCollector(a *admin) *adminCollector {
	c := &adminCollector{}
	c.addSessionMetrics(a.node.Stats())
	c.addModelMetrics(a.node.Stats())
	c.addProviderMetrics(a.providers)
	c.addActorMetrics(a.node)
	c.addTransportMetrics(a.ws)
	c.addHistograms(a.node.Stats(), a.ws)
	c.addFleetMetrics(a.fleet)
	c.value("wealthcoach_draining", "1 once the node drains for shutdown.", "", promGauge, func() []seriesValue {
		return []seriesValue{{value: metricBool(a.node.Draining())}}
	})
	c.value("wealthcoach_build_info", "Always 1; the version is in the label.", "version", promGauge, func() []seriesValue {
		return []seriesValue{{a.build, 1}}
	})
	return c
}

const (
	promCounter = prometheus.CounterValue
	promGauge   = prometheus.GaugeValue
)

// value adds a counter or gauge family with at most one label.
func (c *adminCollector) value(name, help, label string, kind prometheus.ValueType, read func() []seriesValue) {
	c.values = append(c.values, valueMetric{prometheus.NewDesc(name, help, metricLabels(label), nil), kind, read})
}

// histogram adds a histogram family with at most one label.
func (c *adminCollector) histogram(name, help, label string, scale float64, bounds []float64, series ...histogramSeries) {
	c.hists = append(c.hists, histogramMetric{prometheus.NewDesc(name, help, metricLabels(label), nil), series, scale, bounds})
}

func (c *adminCollector) addSessionMetrics(st *actors.Stats) {
	c.value("wealthcoach_sessions", "Live sessions by state.", "state", promGauge,
		metricEach([]string{"unauthenticated", "authenticated", "streaming"}, &st.Unauthenticated, &st.Authenticated, &st.Streaming))
	c.value("wealthcoach_users", "Distinct users with a live session.", "", promGauge, metricOne(&st.Users))
	c.value("wealthcoach_sessions_opened_total", "Sessions started.", "", promCounter, metricOne(&st.SessionsOpened))
	c.value("wealthcoach_sessions_closed_total", "Sessions ended.", "", promCounter, metricOne(&st.SessionsClosed))
	c.value("wealthcoach_session_failures_total", "Panics recovered inside sessions.", "", promCounter, metricOne(&st.SessionFailures))
	c.value("wealthcoach_sessions_stopped_total", "Sessions closed with 1011 after repeated failures.", "", promCounter, metricOne(&st.SessionsStopped))
	c.value("wealthcoach_chat_messages_total", "Chat messages accepted.", "", promCounter, metricOne(&st.ChatMessages))
	c.value("wealthcoach_answers_total", "Answers completed (stop, length or cancelled).", "", promCounter, metricOne(&st.Answers))
	c.value("wealthcoach_rejections_total", "Requests and connections refused, by error or close code.", "code", promCounter,
		func() []seriesValue { return rejectionSeries(st) })
}

func (c *adminCollector) addModelMetrics(st *actors.Stats) {
	c.value("wealthcoach_cache_requests_total", "Response cache lookups by result.", "result", promCounter,
		metricEach([]string{"hit", "miss", "error"}, &st.CacheHits, &st.CacheMisses, &st.CacheErrors))
	c.value("wealthcoach_cache_stores_total", "Answers written to the response cache.", "", promCounter, metricOne(&st.CacheStores))
	c.value("wealthcoach_cache_coalesced_total", "Cache look-ups that waited for an identical one in flight instead of a model call.", "", promCounter, metricOne(&st.CacheCoalesced))
	c.value("wealthcoach_cache_skipped_total", "Cache operations skipped while the cache's circuit breaker was open.", "", promCounter, metricOne(&st.CacheSkipped))
	c.value("wealthcoach_cache_breaker_open", "1 while the response cache's circuit breaker is open.", "", promGauge, func() []seriesValue {
		return []seriesValue{{value: boolValue(st.CacheBreakerOpen.Load())}}
	})
	c.value("wealthcoach_history_queued", "Exchanges waiting to be written to the conversation store.", "", promGauge, metricOne(&st.HistoryQueued))
	c.value("wealthcoach_history_written_total", "Exchanges written to the conversation store.", "", promCounter, metricOne(&st.HistoryWritten))
	c.value("wealthcoach_history_dropped_total", "Exchanges dropped from a full conversation queue.", "", promCounter, metricOne(&st.HistoryDropped))
	c.value("wealthcoach_history_errors_total", "Failed writes to the conversation store, each retried.", "", promCounter, metricOne(&st.HistoryErrors))
	c.value("wealthcoach_history_batches_total", "Successful writes to the conversation store, each of a batch of exchanges.", "", promCounter, metricOne(&st.HistoryBatches))
	c.value("wealthcoach_history_rows_written_total", "Messages and audit records in the successful writes.", "", promCounter, metricOne(&st.HistoryRows))
	c.value("wealthcoach_llm_in_flight", "Model calls in progress.", "", promGauge, metricOne(&st.LLMInFlight))
	c.value("wealthcoach_llm_requests_total", "Model calls started.", "", promCounter, metricOne(&st.LLMRequests))
	c.value("wealthcoach_llm_errors_total", "Model calls that failed.", "", promCounter, metricOne(&st.LLMErrors))
	c.value("wealthcoach_llm_rate_limited_total", "Chat messages refused by the per-user rate limit.", "", promCounter, metricOne(&st.LLMRateLimited))
	c.value("wealthcoach_llm_retries_total", "Model calls retried after 429 or 5xx.", "", promCounter, metricOne(&st.LLMRetries))
	c.value("wealthcoach_llm_tokens_total", "Model tokens by direction.", "direction", promCounter,
		metricEach([]string{"in", "out"}, &st.TokensIn, &st.TokensOut))
}

// addProviderMetrics labels each model provider "<index>:<model>", index 0
// the primary: a handful of configured values.
func (c *adminCollector) addProviderMetrics(providers func() []llm.ProviderStats) {
	each := func(read func(llm.ProviderStats) int64) func() []seriesValue {
		return func() []seriesValue {
			ps := providers()
			out := make([]seriesValue, len(ps))
			for i, p := range ps {
				out[i] = seriesValue{strconv.Itoa(p.Index) + ":" + p.Model, read(p)}
			}
			return out
		}
	}
	c.value("wealthcoach_llm_provider_requests_total", "Model requests by provider, retries included.", "provider", promCounter,
		each(func(p llm.ProviderStats) int64 { return p.Requests }))
	c.value("wealthcoach_llm_provider_errors_total", "Failed model requests by provider, retries included.", "provider", promCounter,
		each(func(p llm.ProviderStats) int64 { return p.Errors }))
	c.value("wealthcoach_llm_provider_breaker_open", "1 while the provider's circuit breaker is open or half-open, else 0.", "provider", promGauge,
		each(func(p llm.ProviderStats) int64 { return boolValue(p.Breaker != llm.BreakerClosed) }))
}

func (c *adminCollector) addActorMetrics(node *actors.Node) {
	kinds := func(read func(*actors.KindStats) int64) func() []seriesValue {
		return func() []seriesValue {
			out := make([]seriesValue, 0, len(actors.Kinds))
			for _, kind := range actors.Kinds {
				if k := node.Kind(kind); k != nil {
					out = append(out, seriesValue{kind, read(k)})
				}
			}
			return out
		}
	}
	c.value("wealthcoach_actors", "Live actors by kind.", "kind", promGauge,
		kinds(func(k *actors.KindStats) int64 { return k.Live.Load() }))
	c.value("wealthcoach_actor_deepest_mailbox", "Longest mailbox of any actor of the kind over the last 10 to 20 seconds.", "kind", promGauge,
		kinds(func(k *actors.KindStats) int64 { return k.DeepestMailbox() }))
	c.value("wealthcoach_actor_messages_total", "Messages processed by actors, by kind.", "kind", promCounter,
		kinds(func(k *actors.KindStats) int64 { return k.Processed.Load() }))
	c.value("wealthcoach_actor_restarts_total", "Actor failures handled by a supervisor, by kind.", "kind", promCounter,
		kinds(func(k *actors.KindStats) int64 { return k.Restarts.Load() }))
}

func (c *adminCollector) addTransportMetrics(ws *Stats) {
	c.value("wealthcoach_open_sockets", "Open WebSocket connections.", "", promGauge, metricOne(&ws.Live))
	c.value("wealthcoach_upgrades_total", "WebSocket connections upgraded.", "", promCounter, metricOne(&ws.Upgrades))
	c.value("wealthcoach_upgrade_errors_total", "WebSocket handshakes that failed.", "", promCounter, metricOne(&ws.UpgradeErrors))
	c.value("wealthcoach_origins_refused_total", "WebSocket upgrades refused for their Origin.", "", promCounter, metricOne(&ws.OriginsRefused))
	c.value("wealthcoach_per_ip_refused_total", "WebSocket upgrades refused with 429: too many unauthenticated connections from one address.", "", promCounter, metricOne(&ws.PerIPRefused))
	c.value("wealthcoach_accept_errors_total", "Connections the listeners failed to accept (for example too many open files).", "", promCounter, metricOne(&ws.AcceptErrors))
	c.value("wealthcoach_frames_total", "WebSocket frames by direction.", "direction", promCounter,
		metricEach([]string{"in", "out"}, &ws.FramesIn, &ws.FramesOut))
	c.value("wealthcoach_bytes_total", "WebSocket payload bytes by direction.", "direction", promCounter,
		metricEach([]string{"in", "out"}, &ws.BytesIn, &ws.BytesOut))
	c.value("wealthcoach_dropped_connections_total", "Connections dropped for not reading (slow) or for silence.", "reason", promCounter,
		metricEach([]string{"slow", "silent"}, &ws.SlowDropped, &ws.SilentDropped))
	c.value("wealthcoach_flood_dropped_frames_total", "Frames dropped by the per-connection flood guard.", "", promCounter, metricOne(&ws.FloodDropped))
}

func (c *adminCollector) addHistograms(st *actors.Stats, ws *Stats) {
	const us = 1e-6 // the latency histograms count microseconds
	c.histogram("wealthcoach_handshake_seconds", "Connection opened to connected sent.", "", us, handshakeBuckets,
		histogramSeries{h: &st.AuthTime})
	c.histogram("wealthcoach_llm_time_to_first_token_seconds", "Chat message to the first text of a fresh answer.", "", us, ttftBuckets,
		histogramSeries{h: &st.TTFT})
	c.histogram("wealthcoach_answer_seconds", "Chat message to the done frame of a fresh answer.", "", us, answerBuckets,
		histogramSeries{h: &st.AnswerTime})
	c.histogram("wealthcoach_history_batch_exchanges", "Exchanges in each successful write to the conversation store.", "", 1, batchBuckets,
		histogramSeries{h: &st.HistoryBatchSize})
	c.histogram("wealthcoach_history_write_seconds", "Duration of each successful write to the conversation store, audit records included.", "", us, writeBuckets,
		histogramSeries{h: &st.HistoryWriteTime})
	c.histogram("wealthcoach_cached_answer_seconds", "Chat message to the frame of a cached answer.", "", us, cachedBuckets,
		histogramSeries{h: &st.CachedTime})
	c.histogram("wealthcoach_frame_bytes", "WebSocket frame payload sizes by direction.", "direction", 1, frameBuckets,
		histogramSeries{"in", &ws.FrameSizeIn}, histogramSeries{"out", &ws.FrameSizeOut})
}

// Describe sends every family's description.
func (c *adminCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.values {
		ch <- m.desc
	}
	for _, h := range c.hists {
		ch <- h.desc
	}
}

// Collect reads every promCounter, gauge and histogram once.
func (c *adminCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.values {
		for _, v := range m.read() {
			ch <- constMetric(m.desc, m.kind, float64(v.value), v.label)
		}
	}
	for _, h := range c.hists {
		for _, s := range h.series {
			ch <- h.collect(s)
		}
	}
}

func (h histogramMetric) collect(s histogramSeries) prometheus.Metric {
	raw := make([]uint64, len(h.bounds))
	for i, b := range h.bounds {
		raw[i] = uint64(math.Round(b / h.scale))
	}
	// Buckets are read before the count, and an observation bumps its
	// bucket before the count: clamp so that no bucket exceeds +Inf.
	cum := s.h.Cumulative(raw)
	count := s.h.Count()
	buckets := make(map[float64]uint64, len(h.bounds))
	for i, b := range h.bounds {
		buckets[b] = min(cum[i], count)
	}
	sum := float64(s.h.Sum()) * h.scale
	if s.label == "" {
		return prometheus.MustNewConstHistogram(h.desc, count, sum, buckets)
	}
	return prometheus.MustNewConstHistogram(h.desc, count, sum, buckets, s.label)
}

func constMetric(d *prometheus.Desc, kind prometheus.ValueType, v float64, label string) prometheus.Metric {
	if label == "" {
		return prometheus.MustNewConstMetric(d, kind, v)
	}
	return prometheus.MustNewConstMetric(d, kind, v, label)
}

// metricOne reads a single unlabelled series.
func metricOne(v *atomic.Int64) func() []seriesValue {
	return func() []seriesValue { return []seriesValue{{value: v.Load()}} }
}

// metricEach reads one series per label value, in order.
func metricEach(labels []string, vs ...*atomic.Int64) func() []seriesValue {
	return func() []seriesValue {
		out := make([]seriesValue, len(vs))
		for i, v := range vs {
			out[i] = seriesValue{labels[i], v.Load()}
		}
		return out
	}
}

func rejectionSeries(st *actors.Stats) []seriesValue {
	byCode := st.Rejections()
	out := make([]seriesValue, 0, len(byCode))
	for code, n := range byCode {
		out = append(out, seriesValue{string(code), n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].label < out[j].label })
	return out
}

func metricLabels(label string) []string {
	if label == "" {
		return nil
	}
	return []string{label}
}

func metricBool(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func boolValue(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
