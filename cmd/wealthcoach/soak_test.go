package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/loadtest"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// soakFaultKinds are the errors the soak's faults explain: a model that
// fails, cuts its stream or hangs gets llm_unavailable, before the first
// token or after some text (SPEC 8.1). Anything else is a defect.
var soakFaultKinds = map[string]bool{
	"error llm_unavailable":                  true,
	"answer cut, then error llm_unavailable": true,
}

// TestSoakLosesNothing is the soak in small: `loadtest --soak
// --verify-store` against a server whose model fails, cuts and hangs at
// random, whose Redis is stopped and started again, and whose database is
// unreachable for a while, all mid-run. Every answer the clients received
// must then be in the audit trail, and in the messages when it entered
// memory, and the only errors those the faults explain. `just soak` runs
// the same for ten minutes against separate processes.
func TestSoakLosesNothing(t *testing.T) {
	var redis *storetest.RedisServer
	var pg *storetest.Proxy
	ts := startServer(t, serverOpts{
		backend: realServices, redis: &redis, pgProxy: &pg,
		fake: llmfake.Options{FailRate: 0.08, CutRate: 0.08, HangRate: 0.03},
		env: map[string]string{
			"WEALTHCOACH_LOG_LEVEL":                 "info",
			"WEALTHCOACH_LLM_TIMEOUT":               "2s",
			"WEALTHCOACH_LLM_MAX_RETRIES":           "1",
			"WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE": "6000",
			"WEALTHCOACH_LLM_RATE_LIMIT_BURST":      "100",
			// The fake answers at once, so a session with 20 ms between
			// answers may send 40 frames a second, over the flood guard's
			// default 20: the guard is not what this soaks.
			"WEALTHCOACH_LIMITS_FRAMES_PER_SECOND": "200",
			"WEALTHCOACH_LIMITS_FRAME_BURST":       "200",
		},
	})
	const users = 12
	if _, err := ts.store.SeedUsers(t.Context(), "soak", users); err != nil {
		t.Fatal(err)
	}
	const length = 12 * time.Second
	faultsDone := make(chan struct{})
	defer func() { <-faultsDone }()
	go func() {
		defer close(faultsDone)
		// The faults of the environment, each mid-run and each over before
		// the end, so that the writer has the time to catch up.
		time.Sleep(length / 4)
		redis.Stop()
		time.Sleep(2 * time.Second)
		redis.Start()
		time.Sleep(length / 4)
		pg.SetDown(true)
		time.Sleep(2 * time.Second)
		pg.SetDown(false)
	}()

	dir := t.TempDir()
	cfgPath, out := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "soak.json")
	if err := os.WriteFile(cfgPath, []byte("# from the environment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) (string, bool) { v, ok := ts.env[k]; return v, ok }}
	err := m.Run(t.Context(), []string{"loadtest", "--config", cfgPath, "--url", ts.ws,
		"--sessions", "24", "--users", "12", "--users-prefix", "soak", "--ramp", "1s", "--think", "20ms",
		"--soak", "--duration", length.String(), "--timeout", "10s",
		"--verify-store", "--verify-wait", "30s", "--json", out, "--allow-errors"})
	t.Logf("loadtest:\n%s", stdout.String())
	if err != nil {
		t.Fatalf("loadtest: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadtest.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	v := rep.Store
	if v == nil {
		t.Fatal("the report has no store verification")
	}
	if v.Lost() != 0 || v.Received == 0 {
		t.Fatalf("received %d, audited %d, stored %d of %d: %v", v.Received, v.Audited, v.Stored, v.InMemory, v.Missing)
	}
	// The faults must have happened, or nothing was tested: answers cut
	// after text are audited but kept out of memory.
	if cut := v.Received - v.InMemory; cut == 0 {
		t.Errorf("no answer was cut after text over %d answers: the faults did not fire", v.Received)
	}
	for _, e := range rep.Errors {
		if !soakFaultKinds[e.Kind] {
			t.Errorf("%d errors %q (%s): not a kind the faults explain", e.Count, e.Kind, e.Example)
		}
	}
	if rep.Connected != 24 {
		t.Errorf("connected %d of 24", rep.Connected)
	}
}
