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

	"github.com/wealthwarriors/wealthcoach/internal/loadtest"
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
	SourceIPs int           // loopback source addresses 127.0.0.1 … 127.0.0.N; zero leaves the tool's default
	ServerPID int
	FreeURL   string // asked to free memory before each RSS sample; empty: not
}

// sessionsPerSourceIP is how many sessions the bench puts on one loopback
// source address. An address has about 28,000 ephemeral ports (32768-60999)
// for the sessions, and the earlier phases' connections in TIME_WAIT still
// take some of 127.0.0.1's: a third of the range leaves room for both.
const sessionsPerSourceIP = 5000

// sourceIPs is how many loopback source addresses n sessions are spread
// over.
func sourceIPs(n int) int {
	return max(1, (n+sessionsPerSourceIP-1)/sessionsPerSourceIP)
}

// serverOf returns the server samples, zero when the run took none.
func serverOf(r *loadtest.Report) loadtest.ServerUsage {
	if r.Server == nil {
		return loadtest.ServerUsage{}
	}
	return *r.Server
}

// errorSummary names the most frequent errors, for progress lines.
func errorSummary(r *loadtest.Report) string {
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

// loadtest runs the load tool as its own process, as a person would, and
// reads its JSON report. Errors under load are in the report; the error
// return is for a run that produced none.
func (b *bench) loadtest(ctx context.Context, s loadSpec) (*loadtest.Report, error) {
	file := filepath.Join(b.dir, s.Name+".json")
	args := b.loadArgs(s, file)
	err := b.procs.run(ctx, procSpec{Name: s.Name, Bin: b.bins.wealthcoach, Args: args, Env: b.loadEnv(), Dir: b.dir, Log: b.log(s.Name)})
	if err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, b.log(s.Name))
	}
	return readLoadReport(file)
}

// loadArgs is the load tool's command line for s, writing its report to
// file.
func (b *bench) loadArgs(s loadSpec, file string) []string {
	args := []string{"loadtest", "--url", s.URL,
		"--sessions", strconv.Itoa(s.Sessions), "--users-prefix", userPrefix,
		"--messages", strconv.Itoa(s.Messages), "--repeat", strconv.FormatFloat(s.Repeat, 'f', -1, 64),
		"--ramp", s.Ramp.String(), "--hold", s.Hold.String(), "--think", s.Think.String(),
		"--max-handshakes", strconv.Itoa(b.o.MaxHandshakes), "--timeout", b.o.Timeout.String(),
		"--json", file, "--allow-errors"}
	if s.Duration > 0 {
		args = append(args, "--duration", s.Duration.String())
	}
	if s.SourceIPs > 0 {
		args = append(args, "--source-ips", strconv.Itoa(s.SourceIPs))
	}
	if s.ServerPID != 0 {
		args = append(args, "--server-pid", strconv.Itoa(s.ServerPID))
	}
	if s.FreeURL != "" {
		args = append(args, "--free-memory-url", s.FreeURL)
	}
	return args
}

func readLoadReport(file string) (*loadtest.Report, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read load report: %w", err)
	}
	var r loadtest.Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode load report %s: %w", file, err)
	}
	if r.Sessions == 0 {
		return nil, errors.New("load report " + file + " names no sessions")
	}
	return &r, nil
}
