package loadtest

import (
	"fmt"
	"io"
	"time"
)

// Report is the outcome of a run, printed by PrintTable or written as
// JSON. The JSON field names are a contract: scripts and cmd/bench read
// them.
type Report struct {
	// The plan, after defaults.
	URL           string       `json:"url"`
	Sessions      int          `json:"sessions"`
	Users         int          `json:"users"`
	Messages      int          `json:"messages_per_session"`
	Ramp          Milliseconds `json:"ramp_ms"`
	Think         Milliseconds `json:"think_ms"`
	Repeat        float64      `json:"repeat"`
	Hold          Milliseconds `json:"hold_ms"`
	MaxHandshakes int          `json:"max_handshakes"`
	SourceIPs     int          `json:"source_ips"`

	Connected     int64        `json:"connected"`
	Answers       int64        `json:"answers"` // done frames, fresh and cached
	Cached        int64        `json:"cached_answers"`
	ConnectPhase  Milliseconds `json:"connect_phase_ms"`
	HandshakeRate float64      `json:"handshakes_per_second"`
	ChatPhase     Milliseconds `json:"chat_phase_ms"`
	Elapsed       Milliseconds `json:"elapsed_ms"`
	// Stopped says why the run ended before every session finished.
	Stopped string `json:"stopped,omitempty"`

	// Latency has one row per metric, in the order of the Metric constants.
	Latency []Latency `json:"latency"`
	// Errors are most frequent first; ErrorCount is their total.
	Errors     []ErrorKind `json:"errors"`
	ErrorCount int64       `json:"error_count"`

	// Soak is set for a run that chatted until --duration; RSS then holds
	// the server's memory over it, with Options.ServerPID.
	Soak bool        `json:"soak,omitempty"`
	RSS  []RSSSample `json:"rss_samples,omitempty"`
	// Received is every answer received, with Options.Record.
	Received []Received `json:"-"`
	// Store is what Verify found of Received, when the caller looked.
	Store *Verification `json:"store,omitempty"`

	// Server is nil unless Options.ServerPID was set.
	Server    *ServerUsage `json:"server,omitempty"`
	ClientCPU Milliseconds `json:"client_cpu_ms"` // this process, server included when in-process
}

// Metric names, in table order.
const (
	MetricConnect    = "connect"       // TCP + WebSocket handshake
	MetricAuth       = "authenticate"  // authenticate frame to connected frame
	MetricFirstToken = "first_token"   // message to first response frame, fresh answers
	MetricAnswer     = "answer"        // message to done frame, fresh answers
	MetricCached     = "cached_answer" // message to done frame, cached answers
)

// metricLabels are the table's row labels.
var metricLabels = map[string]string{
	MetricConnect:    "connect (TCP + WS handshake)",
	MetricAuth:       "authenticate (-> connected)",
	MetricFirstToken: "first token (fresh answers)",
	MetricAnswer:     "whole answer (fresh)",
	MetricCached:     "cached answer",
}

// Metric returns the named latency row, with only its name when the
// report has none.
func (r *Report) Metric(name string) Latency {
	for _, l := range r.Latency {
		if l.Name == name {
			return l
		}
	}
	return Latency{Name: name}
}

// PrintTable writes the report as the summary table a person reads.
func (r *Report) PrintTable(w io.Writer) {
	fmt.Fprintf(w, "\n%d sessions over %d users -> %s\n", r.Sessions, min(r.Users, r.Sessions), r.URL)
	fmt.Fprintf(w, "connected  %d of %d in %s (%.0f handshakes/s)\n", r.Connected, r.Sessions,
		fmtSeconds(r.ConnectPhase), r.HandshakeRate)
	switch {
	case r.Soak:
		fmt.Fprintf(w, "answered   %d (%d cached) in %s of soak\n", r.Answers, r.Cached, fmtSeconds(r.ChatPhase))
	case r.Messages > 0:
		fmt.Fprintf(w, "answered   %d of %d (%d cached) in %s\n", r.Answers, r.Sessions*r.Messages, r.Cached,
			fmtSeconds(r.ChatPhase))
	}
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped    %s\n", r.Stopped)
	}
	fmt.Fprintf(w, "\n%-30s %8s %9s %9s %9s %9s\n", "latency (ms)", "count", "p50", "p90", "p99", "max")
	for _, l := range r.Latency {
		if l.Count == 0 {
			fmt.Fprintf(w, "%-30s %8d %9s %9s %9s %9s\n", metricLabels[l.Name], 0, "-", "-", "-", "-")
			continue
		}
		fmt.Fprintf(w, "%-30s %8d %9s %9s %9s %9s\n", metricLabels[l.Name], l.Count,
			l.P50.ms(), l.P90.ms(), l.P99.ms(), l.Max.ms())
	}
	fmt.Fprintln(w)
	if s := r.Server; s != nil {
		printServerUsage(w, s, r.Connected)
	}
	if len(r.RSS) > 0 {
		fmt.Fprint(w, "  RSS over the soak:")
		for _, s := range r.RSS {
			fmt.Fprintf(w, " %s %s;", fmtSeconds(s.At), fmtMiB(s.RSS))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "load tool CPU %s over %s\n", fmtSeconds(r.ClientCPU), fmtSeconds(r.Elapsed))
	if r.ErrorCount == 0 {
		fmt.Fprintln(w, "errors: none")
		return
	}
	fmt.Fprintf(w, "errors: %d\n", r.ErrorCount)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "%8d  %s", e.Count, e.Kind)
		if e.Example != "" {
			fmt.Fprintf(w, "  (%s)", clipExample(e.Example, 100))
		}
		fmt.Fprintln(w)
	}
}

func printServerUsage(w io.Writer, s *ServerUsage, connected int64) {
	fmt.Fprintf(w, "server pid %d:\n", s.PID)
	if s.RSSConnected != 0 {
		fmt.Fprintf(w, "  connect phase: CPU %s, %s ms per handshake; RSS %s -> %s with %d idle sessions = %.1f KiB per session\n",
			fmtSeconds(s.ConnectCPU), s.CPUPerHandshake.ms(), fmtMiB(s.RSSBefore), fmtMiB(s.RSSConnected), connected,
			s.RSSPerSession/1024)
	}
	if s.RSSChatted != 0 {
		fmt.Fprintf(w, "  chat phase:    CPU %s, %s ms per answer; RSS %s after chatting\n",
			fmtSeconds(s.ChatCPU), s.CPUPerAnswer.ms(), fmtMiB(s.RSSChatted))
	}
	if s.Warning != "" {
		fmt.Fprintf(w, "  warning: %s\n", s.Warning)
	}
}

func fmtSeconds(d Milliseconds) string {
	return fmt.Sprintf("%.2fs", time.Duration(d).Seconds())
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// clipExample cuts s to about n bytes without splitting a character.
func clipExample(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
