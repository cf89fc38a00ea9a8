package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// childConfigEnv, when set, makes the test binary a `wealthcoach serve`
// process on that configuration file instead of running the tests: a node
// a test can kill with a signal, which an in-process server cannot be.
const childConfigEnv = "WEALTHCOACH_TEST_CHILD_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(childConfigEnv); path != "" {
		os.Exit(serveAsChild(path))
	}
	os.Exit(m.Run())
}

// serveAsChild runs the server with its logs on stderr and writes one line,
// "ready <public> <admin>", on stdout once both listeners are up.
func serveAsChild(config string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	m.Stdout = os.Stderr
	m.Environ = nil // the variable that made this a child is not a setting
	m.hooks.ready = func(pub, adm string) { fmt.Printf("ready %s %s\n", pub, adm) }
	if err := m.Run(ctx, []string{"serve", "--config", config}); err != nil {
		fmt.Fprintln(os.Stderr, "wealthcoach:", err)
		return 1
	}
	return 0
}
