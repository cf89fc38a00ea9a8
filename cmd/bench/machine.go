package main

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the bench ran.
type machine struct {
	CPUs      int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	MemoryGiB int    `json:"memory_gib"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"` // of the binaries under test
}

func describeMachine(bins binaries) machine {
	return machine{
		CPUs:      runtime.NumCPU(),
		CPUModel:  procField("/proc/cpuinfo", "model name"),
		MemoryGiB: memTotalGiB(),
		Kernel:    strings.TrimSpace(readFirstLine("/proc/sys/kernel/osrelease")),
		GoVersion: goVersion(bins.wealthcoach),
	}
}

func (m machine) String() string {
	s := strconv.Itoa(m.CPUs) + " CPUs (nproc), " + orUnknown(m.CPUModel)
	if m.MemoryGiB > 0 {
		s += ", " + strconv.Itoa(m.MemoryGiB) + " GiB memory"
	}
	if m.Kernel != "" {
		s += ", Linux " + m.Kernel
	}
	return s + ", " + m.GoVersion
}

// procField is the value of the first "key : value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func memTotalGiB() int {
	f := strings.Fields(procField("/proc/meminfo", "MemTotal"))
	if len(f) == 0 {
		return 0
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0
	}
	return int((kb + 1<<19) >> 20) // rounded to the nearest GiB
}

func readFirstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown CPU"
	}
	return s
}
