package main

import (
	"os"
	"syscall"
)

// ownedProcAttr puts a child in a process group of its own, so that a
// signal reaches whatever it started too, and asks the kernel to kill it
// should the bench die without stopping it.
func ownedProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// terminate asks a child's process group to exit.
func terminate(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGTERM) }

// kill ends a child's process group at once.
func kill(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGKILL) }
