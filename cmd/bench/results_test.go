package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func ptr(v float64) *float64 { return &v }

func TestEvaluate(t *testing.T) {
	atLeast := rowSpec{label: "rate", unit: "handshakes/s", check: check{checkRatioAtLeast, 0.80}}
	atMost := rowSpec{label: "ttft", unit: "ms", check: check{checkRatioAtMost, 1.2}}
	absMax := rowSpec{label: "rss", unit: "KiB", check: check{checkServerAtMost, 16}}
	absMin := rowSpec{label: "connected", check: check{checkServerAtLeast, 10000}}
	noErrors := rowSpec{label: "errors", check: check{checkEverySideAtMost, 0}}
	info := rowSpec{label: "cpu", unit: "ms"}
	tests := []struct {
		name      string
		spec      rowSpec
		base, srv *float64
		want      string
		ratio     float64 // NaN: no ratio
	}{
		{"ratio at least, above", atLeast, ptr(1000), ptr(900), resultPass, 0.9},
		{"ratio at least, exactly", atLeast, ptr(1000), ptr(800), resultPass, 0.8},
		{"ratio at least, below", atLeast, ptr(1000), ptr(799), resultFail, 0.799},
		{"ratio at most, within", atMost, ptr(100), ptr(119), resultPass, 1.19},
		{"ratio at most, exactly", atMost, ptr(100), ptr(120), resultPass, 1.2},
		{"ratio at most, above", atMost, ptr(100), ptr(121), resultFail, 1.21},
		{"ratio without baseline", atMost, nil, ptr(121), resultMissing, math.NaN()},
		{"ratio with zero baseline", atMost, ptr(0), ptr(1), resultMissing, math.NaN()},
		{"absolute bound met", absMax, ptr(15), ptr(16), resultPass, 16.0 / 15},
		{"absolute bound missed", absMax, nil, ptr(16.1), resultFail, math.NaN()},
		{"absolute bound, not measured", absMax, ptr(15), nil, resultMissing, math.NaN()},
		{"lower bound met", absMin, nil, ptr(10000), resultPass, math.NaN()},
		{"lower bound missed", absMin, nil, ptr(9999), resultFail, math.NaN()},
		{"no errors anywhere", noErrors, ptr(0), ptr(0), resultPass, math.NaN()},
		{"errors on the baseline", noErrors, ptr(2), ptr(0), resultFail, 0},
		{"errors where only the server ran", noErrors, nil, ptr(1), resultFail, math.NaN()},
		{"errors not measured", noErrors, nil, nil, resultMissing, math.NaN()},
		{"info is never judged", info, ptr(1), ptr(100), resultInfo, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := evaluate(tt.spec, tt.base, tt.srv)
			if r.Result != tt.want {
				t.Errorf("result %q, want %q", r.Result, tt.want)
			}
			switch {
			case math.IsNaN(tt.ratio) && r.Ratio != nil:
				t.Errorf("ratio %v, want none", *r.Ratio)
			case !math.IsNaN(tt.ratio) && (r.Ratio == nil || math.Abs(*r.Ratio-tt.ratio) > 1e-9):
				t.Errorf("ratio %v, want %v", r.Ratio, tt.ratio)
			}
		})
	}
}

func TestTargetText(t *testing.T) {
	tests := []struct {
		spec rowSpec
		want string
	}{
		{rowSpec{unit: "handshakes/s", check: check{checkRatioAtLeast, 0.8}}, "ratio ≥ 0.80"},
		{rowSpec{unit: "ms", check: check{checkRatioAtMost, 1.2}}, "ratio ≤ 1.20"},
		{rowSpec{unit: "KiB", check: check{checkServerAtMost, 16}}, "server ≤ 16.0 KiB"},
		{rowSpec{unit: "ms", check: check{checkServerAtMost, 5}}, "server ≤ 5.00 ms"},
		{rowSpec{check: check{checkServerAtLeast, 10000}}, "server ≥ 10000"},
		{rowSpec{check: check{checkServerAtMost, 0}}, "none"},
		{rowSpec{check: check{checkEverySideAtMost, 0}}, "none"},
		{rowSpec{unit: "ms"}, "—"},
	}
	for _, tt := range tests {
		if got := targetText(tt.spec); got != tt.want {
			t.Errorf("targetText(%+v) = %q, want %q", tt.spec.check, got, tt.want)
		}
	}
}

func TestAggregates(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median of 3 = %v, want 2", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 4 = %v, want 2.5", got)
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 {
		t.Error("median sorted its argument in place")
	}
	if got, _ := aggMax.of([]float64{0, 7, 2}); got != 7 {
		t.Errorf("max = %v, want 7", got)
	}
	if _, ok := aggMedian.of(nil); ok {
		t.Error("an empty figure has a value")
	}
}

// TestBuildRows runs the table logic end to end: medians per side, ratios,
// worst-run error counts, and the pass/fail summary.
func TestBuildRows(t *testing.T) {
	m := newMeasurements()
	for _, v := range []float64{1000, 1200, 1100} {
		m.add(sideBaseline, figConnectRate, v)
	}
	for _, v := range []float64{700, 950, 900} {
		m.add(sideServer, figConnectRate, v) // median 900: ratio 900/1100
	}
	for _, v := range []float64{0, 3, 0} {
		m.add(sideServer, figStreamErrors, v)
	}
	m.add(sideBaseline, figStreamErrors, 0)
	m.add(sideServer, figCachedP99, 1.5)
	specs := rowSpecs(options{IdleSessions: 5000, StreamSessions: 1000, CachedSessions: 1000, Phases: allPhases})
	rows := buildRows(specs, m)
	if len(rows) != len(specs) {
		t.Fatalf("%d rows for %d specs", len(rows), len(specs))
	}
	byFig := map[figure]row{}
	for i, s := range specs {
		byFig[s.fig] = rows[i]
	}
	rate := byFig[figConnectRate]
	if *rate.Baseline != 1100 || *rate.Server != 900 || rate.Result != resultPass ||
		math.Abs(*rate.Ratio-900.0/1100) > 1e-9 || len(rate.ServerRuns) != 3 {
		t.Errorf("rate row %+v", rate)
	}
	if r := byFig[figStreamErrors]; *r.Server != 3 || r.Result != resultFail {
		t.Errorf("error row takes the worst run and fails: %+v", r)
	}
	if r := byFig[figCachedP99]; r.Result != resultPass || r.Baseline != nil {
		t.Errorf("cached row %+v", r)
	}
	if r := byFig[figTTFTP50]; r.Result != resultMissing {
		t.Errorf("unmeasured row %+v", r)
	}
	for _, r := range rows {
		if r.Figure == "" || r.Target == "" {
			t.Errorf("row without label or target: %+v", r)
		}
	}
	passed, judged := summary(rows)
	if passed != 2 || judged == passed {
		t.Errorf("summary %d of %d", passed, judged)
	}
	var out bytes.Buffer
	printTable(&out, rows)
	for _, want := range []string{"rate, 5000 sessions (handshakes/s) | 1100 | 900 | 0.82 | ratio ≥ 0.80 | pass |",
		"| streaming phase errors | 0 | 3 | — | none | FAIL |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCapacityRowsOnlyWhenRun(t *testing.T) {
	has := func(o options) bool {
		for _, s := range rowSpecs(o) {
			if s.fig == figCapErrors {
				return true
			}
		}
		return false
	}
	if has(options{Phases: allPhases}) || !has(options{CapacitySessions: 10000, Phases: allPhases}) ||
		has(options{CapacitySessions: 10000, Phases: []string{phaseStream}}) {
		t.Error("capacity rows should appear exactly when the phase runs")
	}
}

func TestValidate(t *testing.T) {
	if err := defaultOptions().validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, host := range []string{"10.0.0.1", "192.168.1.2", "8.8.8.8", "::1", "localhost", "example.com"} {
		o := defaultOptions()
		o.Host = host
		if o.validate() == nil {
			t.Errorf("host %q accepted: only IPv4 loopback may be loaded", host)
		}
	}
	o := defaultOptions()
	o.Host = "127.0.0.2"
	if err := o.validate(); err != nil {
		t.Errorf("127.0.0.2: %v", err)
	}
	o = defaultOptions()
	o.Phases = []string{"stream", "warp"}
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), `"warp"`) {
		t.Errorf("unknown phase: %v", err)
	}
	o = defaultOptions()
	o.Repeat, o.StreamSessions = 0, 0
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "--repeat") || !strings.Contains(err.Error(), "--stream-sessions") {
		t.Errorf("want both problems named, got %v", err)
	}
}

func TestCheckOpenFiles(t *testing.T) {
	if err := checkOpenFiles(10); err != nil {
		t.Errorf("10 sessions: %v", err)
	}
	if err := checkOpenFiles(1 << 40); err == nil {
		t.Error("a trillion sessions fit the open-file limit")
	}
}
