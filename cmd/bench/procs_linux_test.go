package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopEndsGrandchildren checks that stopping a child also ends what
// it started, since it runs in a process group of its own.
func TestStopEndsGrandchildren(t *testing.T) {
	g := newGroup(300 * time.Millisecond)
	pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
	p, err := g.start(helperSpec(t, "parent:"+pidFile))
	if err != nil {
		t.Fatal(err)
	}
	var grandchild int
	deadline := time.Now().Add(10 * time.Second)
	for grandchild == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(pidFile)
		grandchild, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(10 * time.Millisecond)
	}
	if grandchild == 0 {
		g.stopAll()
		t.Fatal("the child never started its own child")
	}
	g.stop(p)
	deadline = time.Now().Add(5 * time.Second)
	for alive(grandchild) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(grandchild, syscall.SIGKILL)
			t.Fatalf("grandchild %d outlived its stopped parent", grandchild)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs: a zombie waiting to be reaped by init
// counts as ended.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
