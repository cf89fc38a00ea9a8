package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/loadtest"
	"github.com/wealthwarriors/wealthcoach/transport/auth"
)

func loadToken(user string) (string, error) {
	return auth.Mint(auth.MintOptions{Secret: []byte(testSecret), UserID: user, TTL: time.Hour})
}

// TestLoadAgainstServer drives the real server with 50 sessions over 25
// users, so that each user's second session can hit the answers the first
// one cached.
func TestLoadAgainstServer(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_LOG_LEVEL": "info"}})
	if _, err := ts.store.SeedUsers(t.Context(), "lt", 25); err != nil {
		t.Fatal(err)
	}
	rep, err := loadtest.Run(t.Context(), loadtest.Options{
		URL: ts.ws, Sessions: 50, Users: 25, UserPrefix: "lt", Token: loadToken,
		Ramp: time.Second, MaxHandshakes: 8, Messages: 2, Think: 10 * time.Millisecond, Repeat: 0.5,
		Duration: 2 * time.Minute, Timeout: 20 * time.Second, ServerPID: os.Getpid(),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.PrintTable(&table)
	t.Logf("report:\n%s", table.String())
	if rep.ErrorCount != 0 {
		t.Fatalf("%d errors: %+v", rep.ErrorCount, rep.Errors)
	}
	if rep.Connected != 50 || rep.Answers != 100 || rep.Cached == 0 {
		t.Errorf("connected %d, answers %d, cached %d; want 50, 100, > 0", rep.Connected, rep.Answers, rep.Cached)
	}
	counts := map[string]int64{loadtest.MetricConnect: 50, loadtest.MetricAuth: 50, loadtest.MetricFirstToken: 100 - rep.Cached,
		loadtest.MetricAnswer: 100 - rep.Cached, loadtest.MetricCached: rep.Cached}
	for name, want := range counts {
		l := rep.Metric(name)
		if l.Count != want {
			t.Errorf("%s: count %d, want %d", name, l.Count, want)
		}
		if l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
			t.Errorf("%s: percentiles out of order: %+v", name, l)
		}
	}
	if s := rep.Server; s == nil || s.Warning != "" || s.RSSConnected == 0 || s.RSSChatted == 0 {
		t.Errorf("server samples: %+v", s)
	}
	if !strings.Contains(table.String(), "errors: none") {
		t.Errorf("table does not say there were no errors")
	}
}

// TestLoadCommand runs the subcommand as a user would, with a JSON summary.
func TestLoadCommand(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_LOG_LEVEL": "info"}})
	if _, err := ts.store.SeedUsers(t.Context(), "user", 4); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath, jsonPath := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "summary.json")
	if err := os.WriteFile(cfgPath, []byte("# from the environment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: loadTestEnv(nil)}
	err := m.Run(t.Context(), []string{"loadtest", "--config", cfgPath, "--url", ts.ws, "--sessions", "4",
		"--messages", "1", "--ramp", "100ms", "--think", "0s", "--json", jsonPath})
	if err != nil {
		t.Fatalf("loadtest: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"connected  4 of 4", "answered   4 of 4", "whole answer (fresh)", "errors: none"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "open-file limit") {
		t.Errorf("stderr does not report the open-file limit:\n%s", stderr.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Connected  int64 `json:"connected"`
		Answers    int64 `json:"answers"`
		ErrorCount int64 `json:"error_count"`
		Latency    []struct {
			Name  string  `json:"name"`
			Count int64   `json:"count"`
			P99   float64 `json:"p99_ms"`
		} `json:"latency"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("summary: %v\n%s", err, b)
	}
	if got.Connected != 4 || got.Answers != 4 || got.ErrorCount != 0 || len(got.Latency) != 5 || got.Latency[0].P99 <= 0 {
		t.Errorf("summary = %s", b)
	}
}

// TestLoadErrorsFailTheRun checks that errors are counted by kind and make
// the command exit non-zero: the users do not exist.
func TestLoadErrorsFailTheRun(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_LOG_LEVEL": "info"}})
	rep, err := loadtest.Run(t.Context(), loadtest.Options{URL: ts.ws, Sessions: 3, UserPrefix: "nobody", Token: loadToken,
		Messages: 1, Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connected != 0 || rep.ErrorCount != 6 {
		t.Fatalf("connected %d, errors %d (%+v); want 0 and 6", rep.Connected, rep.ErrorCount, rep.Errors)
	}
	want := map[string]int64{"error auth_failed": 3, "close 1008 Authentication failed": 3}
	for _, e := range rep.Errors {
		if want[e.Kind] != e.Count {
			t.Errorf("error kind %q: %d, want %d", e.Kind, e.Count, want[e.Kind])
		}
	}
}

// TestLoadCommandRefusesRemoteHost checks that the command refuses a
// host off this machine before it sends anything.
func TestLoadCommandRefusesRemoteHost(t *testing.T) {
	var out syncBuffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: loadTestEnv(nil)}
	err := m.Run(context.Background(), []string{"loadtest", "--config", loadEmptyConfig(t), "--url", "ws://203.0.113.7/ws/chat"})
	if err == nil || !strings.Contains(err.Error(), "refusing host") {
		t.Fatalf("loadtest with a remote host: err = %v\n%s", err, out.String())
	}
}

func TestLoadRefusesPastOpenFileLimit(t *testing.T) {
	soft, _, err := loadtest.OpenFileLimit()
	if err != nil || soft > 1<<30 {
		t.Skipf("open-file limit %d, %v", soft, err)
	}
	var out syncBuffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: loadTestEnv(nil)}
	err = m.Run(context.Background(), []string{"loadtest", "--config", loadEmptyConfig(t),
		"--sessions", strconv.FormatUint(soft, 10)})
	if err == nil || !strings.Contains(err.Error(), "open files") {
		t.Fatalf("loadtest with %d sessions: err = %v\n%s", soft, err, out.String())
	}
}

// loadTestEnv is an environment with the test secret, plus env.
func loadTestEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		if k == "WEALTHCOACH_AUTH_JWT_SECRET" {
			return testSecret, true
		}
		return "", false
	}
}

func loadEmptyConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("# defaults\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
