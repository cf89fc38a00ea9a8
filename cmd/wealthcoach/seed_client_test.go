package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSeedPythonClient runs the design note's Python client against the
// server, twice: the second run is answered from the cache.
func TestSeedPythonClient(t *testing.T) {
	python := pythonWithWebsockets()
	if python == "" {
		t.Skip("no python3 with the websockets module; on Debian: apt-get install python3-websockets")
	}
	ts := startServer(t, serverOpts{})
	ts.addUser("py", nil)
	for i, want := range []string{"(fresh)", "(cached)"} {
		if i == 1 {
			ts.waitStored(1)
		}
		out, err := exec.Command(python, "testdata/seed_client.py", ts.ws, token(t, "py", nil)).CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
		text := string(out)
		if !strings.Contains(text, "Authenticated!") || !strings.Contains(text, "AI: ") || !strings.Contains(text, want) {
			t.Fatalf("run %d: want an authenticated, streamed %s answer, got:\n%s", i, want, text)
		}
	}
}

// pythonWithWebsockets returns a python3 that can import websockets: the
// one on PATH, or Debian's, which a Python manager on PATH may shadow.
func pythonWithWebsockets() string {
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(name)
		if err == nil && exec.Command(p, "-c", "import websockets").Run() == nil {
			return p
		}
	}
	return ""
}

// TestStockClientKeepaliveSurvivesSilence: the websockets library pings
// every 20 s by default and gives up when no pong comes. A client left
// quiet past two of its pings (and far past the server's write timeout)
// must stay connected and then chat.
func TestStockClientKeepaliveSurvivesSilence(t *testing.T) {
	t.Parallel()
	python := pythonWithWebsockets()
	if python == "" {
		t.Skip("no python3 with the websockets module; on Debian: apt-get install python3-websockets")
	}
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_SERVER_WRITE_TIMEOUT": "1s"}})
	ts.addUser("idle", nil)
	out, err := exec.Command(python, "testdata/idle_client.py", ts.ws, token(t, "idle", nil), "45").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "answered after 45") {
		t.Fatalf("want an answer after the quiet spell, got:\n%s", out)
	}
}
