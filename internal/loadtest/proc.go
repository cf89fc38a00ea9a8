package loadtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat. The kernel fixes
// it at 100 for user space on every architecture Go runs on.
const userHZ = 100

// procSample is a process's CPU time and resident memory at one moment.
type procSample struct {
	CPU time.Duration // user + system
	RSS int64         // bytes
}

// sampleProc reads /proc/PID/stat and /proc/PID/status.
func sampleProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("sample server: %w", err)
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields from the last ')'.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return s, fmt.Errorf("sample server: unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[end+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("sample server: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("sample server: bad CPU times in /proc/%d/stat", pid)
	}
	s.CPU = time.Duration(utime+stime) * time.Second / userHZ
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("sample server: %w", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return s, fmt.Errorf("sample server: bad VmRSS %q", rest)
			}
			s.RSS = kb << 10
			return s, nil
		}
	}
	return s, fmt.Errorf("sample server: no VmRSS in /proc/%d/status", pid)
}

// ServerUsage is what the samples of the server process show: CPU time
// and resident memory over the connect and chat phases.
type ServerUsage struct {
	PID int `json:"pid"`
	// CPU time the server spent while sessions connected, in all and per
	// successful handshake (connect + authenticate).
	ConnectCPU      Milliseconds `json:"connect_cpu_ms"`
	CPUPerHandshake Milliseconds `json:"cpu_per_handshake_ms"`
	// CPU time the server spent while sessions chatted, in all and per
	// answer.
	ChatCPU      Milliseconds `json:"chat_cpu_ms"`
	CPUPerAnswer Milliseconds `json:"cpu_per_answer_ms"`
	// Resident memory before the first connection, when every session had
	// connected and none had chatted yet, and when chatting ended.
	RSSBefore    int64 `json:"rss_before_bytes"`
	RSSConnected int64 `json:"rss_connected_bytes"`
	RSSChatted   int64 `json:"rss_chatted_bytes"`
	// RSSPerSession is (RSSConnected - RSSBefore) / sessions connected.
	RSSPerSession float64 `json:"rss_per_idle_session_bytes"`
	// Warning says why a later sample is missing, if one is.
	Warning string `json:"warning,omitempty"`
}

// serverProbe takes the three samples of a run.
type serverProbe struct {
	pid                      int
	freeURL                  string // see Options.FreeMemoryURL
	before, connected, after procSample
	err                      error
}

func newServerProbe(pid int, freeURL string) (*serverProbe, error) {
	p := &serverProbe{pid: pid, freeURL: freeURL}
	if pid == 0 {
		return p, nil
	}
	p.sample(&p.before)
	return p, p.err
}

func (p *serverProbe) sample(into *procSample) {
	if p.pid == 0 || p.err != nil {
		return
	}
	*into, p.err = sampleProc(p.pid)
	if p.err != nil || p.freeURL == "" {
		return
	}
	if p.err = freeMemory(p.freeURL); p.err != nil {
		return
	}
	var after procSample
	if after, p.err = sampleProc(p.pid); p.err == nil {
		into.RSS = after.RSS // the CPU time stays the one before the collection
	}
}

// freeMemory asks the server to return its free memory to the system.
func freeMemory(url string) error {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Post(url, "application/json", nil)
	if err != nil {
		return fmt.Errorf("free server memory: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("free server memory: %s answered %s", url, resp.Status)
	}
	return nil
}

func (p *serverProbe) usage(connected, answers int64) *ServerUsage {
	if p.pid == 0 {
		return nil
	}
	u := &ServerUsage{PID: p.pid, RSSBefore: p.before.RSS, RSSConnected: p.connected.RSS, RSSChatted: p.after.RSS}
	if p.err != nil {
		u.Warning = p.err.Error()
	}
	if p.connected.RSS != 0 {
		u.ConnectCPU = Milliseconds(p.connected.CPU - p.before.CPU)
		if connected > 0 {
			u.CPUPerHandshake = Milliseconds(int64(u.ConnectCPU) / connected)
			u.RSSPerSession = float64(p.connected.RSS-p.before.RSS) / float64(connected)
		}
	}
	if p.after.RSS != 0 {
		u.ChatCPU = Milliseconds(p.after.CPU - p.connected.CPU)
		if answers > 0 {
			u.CPUPerAnswer = Milliseconds(int64(u.ChatCPU) / answers)
		}
	}
	return u
}
