package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// procSpec says how to start one child process.
type procSpec struct {
	Name string   // for messages and the log file name
	Bin  string   // executable path
	Args []string // arguments after the executable
	Env  []string // whole environment; nil inherits this process's
	Dir  string   // working directory
	Log  string   // file that receives stdout and stderr; empty discards them
}

// process is a child that a group started and will stop.
type process struct {
	name string
	cmd  *exec.Cmd
	log  io.Closer
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // Wait's result, set before done closes
}

// Pid is the child's process id.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the child has ended.
func (p *process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// group owns every process the bench starts: each one is stopped by
// stop, or at the latest by stopAll, and on Linux the kernel kills them
// too if the bench itself dies.
type group struct {
	// grace is how long a process may take to exit after SIGTERM before
	// it is killed.
	grace time.Duration

	mu     sync.Mutex
	live   []*process
	closed bool
}

func newGroup(grace time.Duration) *group { return &group{grace: grace} }

// start launches a child in its own process group.
func (g *group) start(spec procSpec) (*process, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, fmt.Errorf("start %s: the bench is stopping", spec.Name)
	}
	cmd := exec.Command(spec.Bin, spec.Args...)
	cmd.Env, cmd.Dir = spec.Env, spec.Dir
	cmd.SysProcAttr = ownedProcAttr()
	p := &process{name: spec.Name, cmd: cmd, done: make(chan struct{})}
	if spec.Log != "" {
		f, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", spec.Name, err)
		}
		cmd.Stdout, cmd.Stderr, p.log = f, f, f
	}
	if err := cmd.Start(); err != nil {
		if p.log != nil {
			_ = p.log.Close()
		}
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	go func() {
		p.err = cmd.Wait()
		if p.log != nil {
			_ = p.log.Close()
		}
		close(p.done)
	}()
	g.live = append(g.live, p)
	return p, nil
}

// run starts a child and waits for it to exit. When ctx ends first, the
// child is stopped and ctx's error returned.
func (g *group) run(ctx context.Context, spec procSpec) error {
	p, err := g.start(spec)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
		g.forget(p)
		if p.err != nil {
			return fmt.Errorf("%s: %w", spec.Name, p.err)
		}
		return nil
	case <-ctx.Done():
		g.stop(p)
		return fmt.Errorf("%s: %w", spec.Name, ctx.Err())
	}
}

// stop ends one child: SIGTERM to its process group, then SIGKILL after
// the grace period. It returns once the child has been reaped. Once
// reaped, its id may be reused, so nothing is signalled after that.
func (g *group) stop(p *process) {
	defer g.forget(p)
	if p.Exited() {
		return
	}
	_ = terminate(p.cmd.Process)
	t := time.NewTimer(g.grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = kill(p.cmd.Process)
		<-p.done
	}
}

// stopAll stops every child still running, all at once, and refuses new
// ones from then on.
func (g *group) stopAll() {
	g.mu.Lock()
	g.closed = true
	live := append([]*process(nil), g.live...)
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range live {
		wg.Go(func() { g.stop(p) })
	}
	wg.Wait()
}

// running lists the children not stopped yet, by name.
func (g *group) running() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	names := make([]string, 0, len(g.live))
	for _, p := range g.live {
		names = append(names, p.name)
	}
	return names
}

func (g *group) forget(p *process) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, q := range g.live {
		if q == p {
			g.live = append(g.live[:i], g.live[i+1:]...)
			return
		}
	}
}

// freeAddr returns an address on host with a port nobody listens on now.
func freeAddr(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}

// errExited says a child ended while the bench still needed it.
var errExited = errors.New("process exited")

// waitListening waits until addr accepts TCP connections, the process
// exits, or the timeout passes.
func waitListening(ctx context.Context, p *process, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s: %w before listening on %s (%v)", p.name, errExited, addr, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s: not listening on %s after %s: %w", p.name, addr, timeout, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logPath names a child's log file in dir.
func logPath(dir, name string) string { return filepath.Join(dir, name+".log") }
