package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wealthwarriors/wealthcoach/internal/loadtest"
)

// TestReadLoadReport decodes a summary that `wealthcoach loadtest --json`
// wrote (20 sessions, one message each, --server-pid) into the figures the
// bench records.
func TestReadLoadReport(t *testing.T) {
	rep, err := readLoadReport(filepath.Join("testdata", "loadtest-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	ft, cached, u := rep.Metric(loadtest.MetricFirstToken), rep.Metric(loadtest.MetricCached), serverOf(rep)
	got := map[string]float64{
		"sessions":             float64(rep.Sessions),
		"connected":            float64(rep.Connected),
		"answers":              float64(rep.Answers),
		"handshakes/s":         rep.HandshakeRate,
		"connect phase ms":     rep.ConnectPhase.Float(),
		"ttft p50 ms":          ft.P50.Float(),
		"ttft p99 ms":          ft.P99.Float(),
		"cached count":         float64(cached.Count),
		"cpu per handshake ms": u.CPUPerHandshake.Float(),
		"cpu per answer ms":    u.CPUPerAnswer.Float(),
		"rss per session":      u.RSSPerSession,
		"load tool cores":      loadCores(rep),
	}
	want := map[string]float64{
		"sessions": 20, "connected": 20, "answers": 20, "handshakes/s": 41.86874292702167,
		"connect phase ms": 477.683, "ttft p50 ms": 151.126, "ttft p99 ms": 155.121, "cached count": 0,
		"cpu per handshake ms": 1, "cpu per answer ms": 10, "rss per session": 64716.8,
		"load tool cores": 183.788 / 477.683,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if s := errorSummary(rep); s != "no errors" {
		t.Errorf("error summary %q", s)
	}
}

func TestReadLoadReportRefuses(t *testing.T) {
	cases := []struct {
		name, json, want string
	}{
		{"no sessions", `{"connected": 0}`, "names no sessions"},
		{"not a number of milliseconds", `{"sessions": 1, "connect_phase_ms": "fast"}`, "decode load report"},
		{"truncated", `{"sessions": 1, "latency": [`, "decode load report"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "report.json")
			if err := os.WriteFile(file, []byte(c.json), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := readLoadReport(file)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
