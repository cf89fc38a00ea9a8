package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// loadSpec is one run of `wealthcoach loadtest`.
type loadSpec struct {
	Name      string // log and report file names
	URL       string
	Sessions  int
	Messages  int
	Repeat    float64 // share of fixed questions, 1 to hit the cache
	Ramp      time.Duration
	Hold      time.Duration
	Think     time.Duration // between an answer and the next message
	Duration  time.Duration // hard cap; zero leaves the tool's default
	ServerPID int
}

// loadReport is the part of loadtest's --json summary the bench reads.
type loadReport struct {
	Sessions      int          `json:"sessions"`
	Connected     int64        `json:"connected"`
	Answers       int64        `json:"answers"`
	Cached        int64        `json:"cached_answers"`
	ConnectPhase  float64      `json:"connect_phase_ms"`
	HandshakeRate float64      `json:"handshakes_per_second"`
	ChatPhase     float64      `json:"chat_phase_ms"`
	Stopped       string       `json:"stopped"`
	Latency       []latency    `json:"latency"`
	Errors        []loadError  `json:"errors"`
	ErrorCount    int64        `json:"error_count"`
	Server        *serverUsage `json:"server"`
	ClientCPU     float64      `json:"client_cpu_ms"`
}

type latency struct {
	Name  string  `json:"name"`
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

type loadError struct {
	Kind    string `json:"kind"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
}

type serverUsage struct {
	ConnectCPU      float64 `json:"connect_cpu_ms"`
	CPUPerHandshake float64 `json:"cpu_per_handshake_ms"`
	ChatCPU         float64 `json:"chat_cpu_ms"`
	CPUPerAnswer    float64 `json:"cpu_per_answer_ms"`
	RSSBefore       int64   `json:"rss_before_bytes"`
	RSSConnected    int64   `json:"rss_connected_bytes"`
	RSSPerSession   float64 `json:"rss_per_idle_session_bytes"`
	Warning         string  `json:"warning"`
}

// metric returns the named latency row, zero when absent.
func (r *loadReport) metric(name string) latency {
	for _, l := range r.Latency {
		if l.Name == name {
			return l
		}
	}
	return latency{Name: name}
}

// server returns the server samples, zero when the run took none.
func (r *loadReport) server() serverUsage {
	if r.Server == nil {
		return serverUsage{}
	}
	return *r.Server
}

// errorSummary names the most frequent errors, for progress lines.
func (r *loadReport) errorSummary() string {
	if r.ErrorCount == 0 {
		return "no errors"
	}
	s := strconv.FormatInt(r.ErrorCount, 10) + " errors"
	for i, e := range r.Errors {
		if i == 2 {
			break
		}
		s += fmt.Sprintf("; %d× %s", e.Count, e.Kind)
	}
	return s
}

// loadtest runs the load tool and reads its report. Errors under load are
// in the report; the error return is for a run that produced none.
func (b *bench) loadtest(ctx context.Context, s loadSpec) (*loadReport, error) {
	file := filepath.Join(b.dir, s.Name+".json")
	args := []string{"loadtest", "--url", s.URL,
		"--sessions", strconv.Itoa(s.Sessions), "--users-prefix", userPrefix,
		"--messages", strconv.Itoa(s.Messages), "--repeat", strconv.FormatFloat(s.Repeat, 'f', -1, 64),
		"--ramp", s.Ramp.String(), "--hold", s.Hold.String(), "--think", s.Think.String(),
		"--max-handshakes", strconv.Itoa(b.o.MaxHandshakes), "--timeout", b.o.Timeout.String(),
		"--json", file, "--allow-errors"}
	if s.Duration > 0 {
		args = append(args, "--duration", s.Duration.String())
	}
	if s.ServerPID != 0 {
		args = append(args, "--server-pid", strconv.Itoa(s.ServerPID))
	}
	err := b.procs.run(ctx, procSpec{Name: s.Name, Bin: b.bins.wealthcoach, Args: args, Env: b.loadEnv(), Dir: b.dir, Log: b.log(s.Name)})
	if err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, b.log(s.Name))
	}
	return readLoadReport(file)
}

func readLoadReport(file string) (*loadReport, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read load report: %w", err)
	}
	var r loadReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode load report %s: %w", file, err)
	}
	if r.Sessions == 0 {
		return nil, errors.New("load report " + file + " names no sessions")
	}
	return &r, nil
}
