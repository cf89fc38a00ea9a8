//go:build !linux

package main

import (
	"os"
	"syscall"
)

// ownedProcAttr has nothing to add outside Linux: children are stopped by
// the bench itself.
func ownedProcAttr() *syscall.SysProcAttr { return nil }

// terminate ends a child; outside Linux it cannot be asked politely.
func terminate(p *os.Process) error { return p.Kill() }

// kill ends a child at once.
func kill(p *os.Process) error { return p.Kill() }
