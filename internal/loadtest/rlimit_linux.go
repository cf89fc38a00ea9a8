package loadtest

import "syscall"

// OpenFileLimit is the process's RLIMIT_NOFILE, soft and hard. The Go
// runtime has already raised the soft limit to the hard one at start-up.
func OpenFileLimit() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	return rl.Cur, rl.Max, nil
}

// selfCPU is the CPU time this process has used, user and system.
func selfCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
