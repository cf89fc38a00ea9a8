package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// nodeProcess is a server running as a process of its own (the test
// binary re-executed, see TestMain), so that it can die as a real node
// dies: SIGKILL, no shutdown, no release of anything.
type nodeProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	ws   string
	logs *syncBuffer
}

// startNodeProcess runs a node with env (and nothing of the test's own
// WEALTHCOACH_* environment) and waits until it listens.
func startNodeProcess(t *testing.T, env map[string]string) *nodeProcess {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("# test configuration: all from the environment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEALTHCOACH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, childConfigEnv+"="+cfg)
	// The node must not outlive a test binary that dies before its cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &nodeProcess{t: t, cmd: cmd, logs: &syncBuffer{}}
	cmd.Stderr = p.logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node process: %v", err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("node process log:\n%s", p.logs.String())
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "ready" {
				ready <- f[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case pub := <-ready:
		p.ws = "ws://" + pub + "/ws/chat"
	case <-time.After(30 * time.Second):
		t.Fatalf("node process did not start\n%s", p.logs.String())
	}
	return p
}

// kill sends SIGKILL and reaps the process; killing twice is harmless.
func (p *nodeProcess) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

func (p *nodeProcess) tryConnect(user string) (*wsclient.Client, bool) {
	p.t.Helper()
	c, _, err := wsclient.Dial(p.ws, wsclient.Options{})
	if err != nil {
		p.t.Fatalf("dial node process: %v", err)
	}
	p.t.Cleanup(func() { _ = c.CloseWithoutFrame() })
	return admittedOrCapped(p.t, c, user)
}

// A node killed outright frees its users' slots once their leases run out,
// within cluster.lease_ttl of the kill plus one renewal, and not before
// the leases it last renewed have expired (nothing released them). The
// user also holds a session on the surviving node, whose renewals keep the
// user's lease set alive: the dead node's entries must expire one by one.
func TestKilledNodeFreesItsSlots(t *testing.T) {
	const ttl = 3 * time.Second
	const user = "killed-node-user"
	env := map[string]string{
		"WEALTHCOACH_CLUSTER_LEASE_TTL":               ttl.String(),
		"WEALTHCOACH_LIMITS_MAX_CONNECTIONS_PER_USER": "3",
	}
	survivor := startFleetWith(t, 1, serverOpts{env: env})[0]
	survivor.addUser(user, nil)
	childEnv := map[string]string{}
	for k, v := range survivor.env {
		childEnv[k] = v
	}
	childEnv["WEALTHCOACH_CLUSTER_NODE_ID"] = "node-killed"
	victim := startNodeProcess(t, childEnv)

	if _, ok := survivor.tryConnect(user); !ok {
		t.Fatal("the first session, on the surviving node, was refused")
	}
	for i := 0; i < 2; i++ {
		if _, ok := victim.tryConnect(user); !ok {
			t.Fatalf("session %d on the node to be killed was refused", i)
		}
	}
	if _, ok := survivor.tryConnect(user); ok {
		t.Fatal("a fourth session was admitted while the other node holds two")
	}
	testutil.WaitFor(t, 10*time.Second, "both nodes in the fleet view", func() bool {
		nl, _ := survivor.cluster()["nodes"].([]any)
		return len(nl) == 2
	})

	victim.kill()
	killed := time.Now()
	// slotBack waits for one of the killed node's slots to be admitted on
	// the survivor and checks it came back within lease_ttl plus one
	// renewal of the kill.
	limit := ttl + ttl/3
	slotBack := func(which string) time.Duration {
		var back time.Duration
		testutil.WaitFor(t, 3*ttl, "the killed node's "+which+" slot", func() bool {
			if _, ok := survivor.tryConnect(user); ok {
				back = time.Since(killed)
				return true
			}
			time.Sleep(20 * time.Millisecond)
			return false
		})
		t.Logf("%s slot back %v after SIGKILL (lease_ttl %v)", which, back.Round(time.Millisecond), ttl)
		if back > limit {
			t.Errorf("%s slot back after %v, want within lease_ttl plus one renewal (%v)", which, back, limit)
		}
		return back
	}
	first := slotBack("first")
	// The last renewal was at most a third of the lease before the kill, so
	// a slot back sooner than that was released, not expired: the node did
	// not die as a killed node does.
	if soonest := ttl - ttl/3 - 250*time.Millisecond; first < soonest {
		t.Errorf("slot back after %v, sooner than an unreleased lease can expire (%v)", first, soonest)
	}
	// The two leases were written milliseconds apart (a renewal may fall
	// between the two admissions), so the second may expire a little after
	// the first, within the same bound.
	slotBack("second")
	if _, ok := survivor.tryConnect(user); ok {
		t.Fatal("a fourth session was admitted after the killed node's two slots were taken")
	}
	testutil.WaitFor(t, 3*ttl, "the killed node gone from the fleet view", func() bool {
		nl, _ := survivor.cluster()["nodes"].([]any)
		return len(nl) == 1
	})
}
