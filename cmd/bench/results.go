package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// side is what a figure was measured on.
type side string

const (
	sideBaseline side = "baseline"
	sideServer   side = "server"
)

// figure names one measured quantity.
type figure string

const (
	figConnectRate        figure = "connect_rate"
	figCPUPerHandshake    figure = "cpu_per_handshake"
	figRSSPerSession      figure = "rss_per_idle_session"
	figRSSPerSessionBurst figure = "rss_per_idle_session_burst"
	figConnectErrors      figure = "connect_errors"
	figTTFTP50            figure = "ttft_p50"
	figTTFTP99            figure = "ttft_p99"
	figCPUPerAnswer       figure = "cpu_per_answer"
	figStreamErrors       figure = "stream_errors"
	figCachedP50          figure = "cached_p50"
	figCachedP99          figure = "cached_p99"
	figNotCached          figure = "not_cached"
	figCachedErrors       figure = "cached_errors"
	figCapConnected       figure = "capacity_connected"
	figCapAnswers         figure = "capacity_answers"
	figCapErrors          figure = "capacity_errors"
	figCapTTFTP50         figure = "capacity_ttft_p50"
	figCapTTFTP99         figure = "capacity_ttft_p99"
	figCapRSS             figure = "capacity_rss_per_session"
)

// measurements collects every run's value of every figure, per side.
type measurements struct {
	values map[side]map[figure][]float64
}

func newMeasurements() *measurements {
	return &measurements{values: map[side]map[figure][]float64{}}
}

func (m *measurements) add(s side, f figure, v float64) {
	if m.values[s] == nil {
		m.values[s] = map[figure][]float64{}
	}
	m.values[s][f] = append(m.values[s][f], v)
}

func (m *measurements) runs(s side, f figure) []float64 { return m.values[s][f] }

// aggregate turns the runs of a figure into the one value shown.
type aggregate int

const (
	aggMedian aggregate = iota // times, rates and sizes
	aggMax                     // error counts: the worst run
)

func (a aggregate) of(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	if a == aggMax {
		return slices.Max(vs), true
	}
	return median(vs), true
}

// median is the middle value, or the mean of the middle two.
func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// checkKind is how a row is judged.
type checkKind int

const (
	checkInfo            checkKind = iota // shown, not judged
	checkRatioAtLeast                     // server / baseline >= limit
	checkRatioAtMost                      // server / baseline <= limit
	checkServerAtMost                     // server <= limit
	checkServerAtLeast                    // server >= limit
	checkEverySideAtMost                  // each side measured <= limit
)

type check struct {
	kind  checkKind
	limit float64
}

// rowSpec is one line of the final table.
type rowSpec struct {
	label string
	unit  string // handshakes/s, ms, KiB, or "" for counts
	fig   figure
	agg   aggregate
	check check
}

// rowSpecs are the table's lines for the phases that run, in order.
func rowSpecs(o options) []rowSpec {
	var rows []rowSpec
	if o.runs(phaseConnect) {
		rows = append(rows, connectRows(o)...)
	}
	if o.runs(phaseStream) {
		rows = append(rows, streamRows(o)...)
	}
	if o.runs(phaseCached) {
		rows = append(rows, cachedRows(o)...)
	}
	if o.runs(phaseCapacity) {
		rows = append(rows, capacityRows(o)...)
	}
	return rows
}

func connectRows(o options) []rowSpec {
	return []rowSpec{
		{fmt.Sprintf("connect + authenticate rate, %d sessions", o.IdleSessions), "handshakes/s", figConnectRate, aggMedian, check{checkRatioAtLeast, 0.80}},
		{"CPU per handshake, same run", "ms", figCPUPerHandshake, aggMedian, check{}},
		{"RSS per idle session after that burst", "KiB", figRSSPerSessionBurst, aggMedian, check{}},
		{fmt.Sprintf("RSS per idle authenticated session, connects paced over %s", o.MemoryRamp), "KiB", figRSSPerSession, aggMedian, check{checkServerAtMost, 16}},
		{"connect phase errors", "", figConnectErrors, aggMax, check{checkEverySideAtMost, 0}},
	}
}

func streamRows(o options) []rowSpec {
	return []rowSpec{
		{fmt.Sprintf("TTFT p50, %d sessions streaming", o.StreamSessions), "ms", figTTFTP50, aggMedian, check{checkRatioAtMost, 1.2}},
		{fmt.Sprintf("TTFT p99, %d sessions streaming", o.StreamSessions), "ms", figTTFTP99, aggMedian, check{checkRatioAtMost, 1.2}},
		{"CPU per streamed answer", "ms", figCPUPerAnswer, aggMedian, check{}},
		{"streaming phase errors", "", figStreamErrors, aggMax, check{checkEverySideAtMost, 0}},
	}
}

func cachedRows(o options) []rowSpec {
	return []rowSpec{
		{fmt.Sprintf("cached answer p50, %d sessions", o.CachedSessions), "ms", figCachedP50, aggMedian, check{}},
		{fmt.Sprintf("cached answer p99, %d sessions", o.CachedSessions), "ms", figCachedP99, aggMedian, check{checkServerAtMost, 5}},
		{"second-run answers not from the cache", "", figNotCached, aggMax, check{checkServerAtMost, 0}},
		{"cached phase errors", "", figCachedErrors, aggMax, check{checkServerAtMost, 0}},
	}
}

func capacityRows(o options) []rowSpec {
	n := o.CapacitySessions
	return []rowSpec{
		{fmt.Sprintf("%d concurrent sessions: connected", n), "", figCapConnected, aggMedian, check{checkServerAtLeast, float64(n)}},
		{fmt.Sprintf("%d concurrent sessions: answers", n), "", figCapAnswers, aggMedian, check{checkServerAtLeast, float64(n)}},
		{fmt.Sprintf("%d concurrent sessions: errors", n), "", figCapErrors, aggMax, check{checkServerAtMost, 0}},
		{fmt.Sprintf("%d concurrent sessions: TTFT p50", n), "ms", figCapTTFTP50, aggMedian, check{}},
		{fmt.Sprintf("%d concurrent sessions: TTFT p99", n), "ms", figCapTTFTP99, aggMedian, check{}},
		{fmt.Sprintf("%d concurrent sessions: RSS per session", n), "KiB", figCapRSS, aggMedian, check{}},
	}
}

// Results of a row.
const (
	resultPass    = "pass"
	resultFail    = "FAIL"
	resultInfo    = "info"
	resultMissing = "missing"
)

// row is one judged line of the table.
type row struct {
	Figure       string    `json:"figure"`
	Unit         string    `json:"unit,omitempty"`
	Baseline     *float64  `json:"baseline,omitempty"`
	Server       *float64  `json:"server,omitempty"`
	Ratio        *float64  `json:"ratio,omitempty"` // server / baseline
	Target       string    `json:"target"`
	Result       string    `json:"result"`
	BaselineRuns []float64 `json:"baseline_runs,omitempty"`
	ServerRuns   []float64 `json:"server_runs,omitempty"`
}

// judged reports whether the row counts towards pass or fail.
func (r row) judged() bool { return r.Result != resultInfo }

// passed reports whether a judged row met its target.
func (r row) passed() bool { return r.Result == resultPass }

// buildRows aggregates the runs and judges each row.
func buildRows(specs []rowSpec, m *measurements) []row {
	rows := make([]row, 0, len(specs))
	for _, s := range specs {
		b, s2 := m.runs(sideBaseline, s.fig), m.runs(sideServer, s.fig)
		r := evaluate(s, value(s.agg, b), value(s.agg, s2))
		r.BaselineRuns, r.ServerRuns = b, s2
		rows = append(rows, r)
	}
	return rows
}

func value(a aggregate, vs []float64) *float64 {
	v, ok := a.of(vs)
	if !ok {
		return nil
	}
	return &v
}

// evaluate judges one figure: base and srv are nil when not measured.
func evaluate(s rowSpec, base, srv *float64) row {
	r := row{Figure: s.label, Unit: s.unit, Baseline: base, Server: srv, Target: targetText(s)}
	if base != nil && srv != nil && *base != 0 {
		ratio := *srv / *base
		r.Ratio = &ratio
	}
	r.Result = judge(s.check, base, srv, r.Ratio)
	return r
}

func judge(c check, base, srv, ratio *float64) string {
	var ok bool
	switch c.kind {
	case checkInfo:
		return resultInfo
	case checkRatioAtLeast, checkRatioAtMost:
		if ratio == nil {
			return resultMissing
		}
		ok = (c.kind == checkRatioAtLeast && *ratio >= c.limit) || (c.kind == checkRatioAtMost && *ratio <= c.limit)
	case checkServerAtMost, checkServerAtLeast:
		if srv == nil {
			return resultMissing
		}
		ok = (c.kind == checkServerAtMost && *srv <= c.limit) || (c.kind == checkServerAtLeast && *srv >= c.limit)
	case checkEverySideAtMost:
		if base == nil && srv == nil {
			return resultMissing
		}
		ok = (base == nil || *base <= c.limit) && (srv == nil || *srv <= c.limit)
	}
	if ok {
		return resultPass
	}
	return resultFail
}

func targetText(s rowSpec) string {
	c := s.check
	bound := formatValue(c.limit, s.unit)
	if s.unit != "" {
		bound += " " + s.unit
	}
	ratio := strconv.FormatFloat(c.limit, 'f', 2, 64)
	switch {
	case c.kind == checkRatioAtLeast:
		return "ratio ≥ " + ratio
	case c.kind == checkRatioAtMost:
		return "ratio ≤ " + ratio
	case (c.kind == checkServerAtMost || c.kind == checkEverySideAtMost) && c.limit == 0 && s.unit == "":
		return "none"
	case c.kind == checkServerAtMost:
		return "server ≤ " + bound
	case c.kind == checkServerAtLeast:
		return "server ≥ " + bound
	case c.kind == checkEverySideAtMost:
		return "each ≤ " + bound
	}
	return "—"
}

// formatValue prints a figure with the precision its unit deserves.
func formatValue(v float64, unit string) string {
	switch {
	case unit == "" || unit == "handshakes/s":
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case unit == "KiB":
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case math.Abs(v) < 1000:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

func formatOptional(v *float64, unit string) string {
	if v == nil {
		return "—"
	}
	return formatValue(*v, unit)
}

// summary counts the judged rows and those that passed.
func summary(rows []row) (passed, judged int) {
	for _, r := range rows {
		if r.judged() {
			judged++
			if r.passed() {
				passed++
			}
		}
	}
	return passed, judged
}

// printTable writes the rows as a Markdown table.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| figure | baseline | server | server / baseline | target | result |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|")
	for _, r := range rows {
		label := r.Figure
		if r.Unit != "" {
			label += " (" + r.Unit + ")"
		}
		ratio := "—"
		if r.Ratio != nil {
			ratio = strconv.FormatFloat(*r.Ratio, 'f', 2, 64)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", label, formatOptional(r.Baseline, r.Unit),
			formatOptional(r.Server, r.Unit), ratio, r.Target, r.Result)
	}
}

// missed lists the judged rows that did not pass.
func missed(rows []row) []string {
	var out []string
	for _, r := range rows {
		if r.judged() && !r.passed() {
			out = append(out, r.Figure+" ("+strings.ToLower(r.Result)+")")
		}
	}
	return out
}
