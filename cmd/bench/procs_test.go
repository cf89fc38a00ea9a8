package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
)

// helperEnv makes the test binary act as a child process instead of
// running the tests: see TestMain.
const helperEnv = "BENCH_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		helper(mode)
		return
	}
	os.Exit(m.Run())
}

// helper is a child's behaviour:
//
//	sleep        sleep until signalled (SIGTERM ends it)
//	stubborn     ignore SIGTERM, sleep until killed
//	exit3        exit with status 3 at once
//	parent:FILE  start a stubborn grandchild, write its pid to FILE, sleep
func helper(mode string) {
	switch {
	case mode == "sleep":
		time.Sleep(time.Minute)
	case mode == "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Minute)
	case mode == "exit3":
		os.Exit(3)
	case strings.HasPrefix(mode, "parent:"):
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"=stubborn")
		if err := cmd.Start(); err != nil {
			os.Exit(4)
		}
		_ = os.WriteFile(strings.TrimPrefix(mode, "parent:"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Minute)
	}
	os.Exit(0)
}

func helperSpec(t *testing.T, mode string) procSpec {
	return procSpec{Name: mode, Bin: os.Args[0], Env: append(os.Environ(), helperEnv+"="+mode),
		Log: filepath.Join(t.TempDir(), "child.log")}
}

func TestStopEndsAndReapsChild(t *testing.T) {
	g := newGroup(5 * time.Second)
	p, err := g.start(helperSpec(t, "sleep"))
	if err != nil {
		t.Fatal(err)
	}
	if got := g.running(); len(got) != 1 {
		t.Fatalf("running %v, want the child", got)
	}
	start := time.Now()
	g.stop(p)
	if !p.Exited() {
		t.Fatal("stop returned before the child exited")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("SIGTERM took %s to end a willing child", d)
	}
	if got := g.running(); len(got) != 0 {
		t.Errorf("group still lists %v", got)
	}
	g.stop(p) // stopping twice is harmless
}

func TestStopKillsChildIgnoringTerm(t *testing.T) {
	g := newGroup(300 * time.Millisecond)
	spec := helperSpec(t, "stubborn")
	p, err := g.start(spec)
	if err != nil {
		t.Fatal(err)
	}
	// SIGTERM is ignored from the child's "ready" line on.
	testutil.WaitFor(t, 10*time.Second, "the child's ready line", func() bool {
		b, _ := os.ReadFile(spec.Log)
		return strings.Contains(string(b), "ready")
	})
	start := time.Now()
	g.stop(p)
	if !p.Exited() {
		t.Fatal("child still running")
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("killed after %s, before the grace period", d)
	}
}

func TestStopAllStopsEveryChildAndRefusesNewOnes(t *testing.T) {
	g := newGroup(300 * time.Millisecond)
	var procs []*process
	for _, mode := range []string{"sleep", "sleep", "stubborn"} {
		p, err := g.start(helperSpec(t, mode))
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	g.stopAll()
	for _, p := range procs {
		if !p.Exited() {
			t.Errorf("%s still running after stopAll", p.name)
		}
	}
	if _, err := g.start(helperSpec(t, "sleep")); err == nil {
		t.Error("start after stopAll succeeded")
	}
}

func TestRunReportsExitStatus(t *testing.T) {
	g := newGroup(time.Second)
	err := g.run(context.Background(), helperSpec(t, "exit3"))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("err = %v, want exit status 3", err)
	}
	if got := g.running(); len(got) != 0 {
		t.Errorf("group still lists %v", got)
	}
}

func TestRunStopsChildWhenContextEnds(t *testing.T) {
	g := newGroup(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := g.run(ctx, helperSpec(t, "sleep"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run returned after %s", d)
	}
	if got := g.running(); len(got) != 0 {
		t.Errorf("group still lists %v", got)
	}
}

func TestWaitListening(t *testing.T) {
	g := newGroup(time.Second)
	defer g.stopAll()
	p, err := g.start(helperSpec(t, "exit3"))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := freeAddr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := waitListening(context.Background(), p, addr, 10*time.Second); !errors.Is(err, errExited) {
		t.Errorf("err = %v, want errExited for a child that died", err)
	}
	p, err = g.start(helperSpec(t, "sleep"))
	if err != nil {
		t.Fatal(err)
	}
	if err := waitListening(context.Background(), p, addr, 100*time.Millisecond); err == nil {
		t.Error("nothing listens, yet waitListening succeeded")
	}
}
