package loadtest

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxSamples bounds one metric's sample buffer (32 MiB of durations). Past
// it samples are still counted, and percentiles come from the first
// maxSamples, which under a steady load is a fair sample of the rest.
const maxSamples = 1 << 22

// latencies records durations into a buffer allocated once, sized for the
// run: recording is one atomic add and one store, with no lock and no
// allocation, so 100k+ samples cost nothing noticeable while the run lasts.
// Percentiles are computed once at the end.
type latencies struct {
	n   atomic.Int64
	buf []time.Duration
}

func newLatencies(expected int) *latencies {
	return &latencies{buf: make([]time.Duration, min(max(expected, 0), maxSamples))}
}

func (l *latencies) add(d time.Duration) {
	if i := l.n.Add(1) - 1; i < int64(len(l.buf)) {
		l.buf[i] = d
	}
}

// summary sorts the samples in place. Call it only after every recorder
// has finished.
func (l *latencies) summary(name string) Latency {
	s := Latency{Name: name, Count: l.n.Load()}
	got := l.buf[:min(s.Count, int64(len(l.buf)))]
	if len(got) == 0 {
		return s
	}
	slices.Sort(got)
	s.P50 = Milliseconds(nearestRank(got, 0.50))
	s.P90 = Milliseconds(nearestRank(got, 0.90))
	s.P99 = Milliseconds(nearestRank(got, 0.99))
	s.Max = Milliseconds(got[len(got)-1])
	return s
}

// nearestRank is the nearest-rank percentile of sorted samples.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Latency is one row of the latency table: how many samples a metric
// has, and their nearest-rank percentiles. The percentiles are zero when
// Count is.
type Latency struct {
	Name  string       `json:"name"` // one of the Metric constants
	Count int64        `json:"count"`
	P50   Milliseconds `json:"p50_ms"`
	P90   Milliseconds `json:"p90_ms"`
	P99   Milliseconds `json:"p99_ms"`
	Max   Milliseconds `json:"max_ms"`
}

// Milliseconds is a duration written to JSON as fractional milliseconds,
// to the microsecond.
type Milliseconds time.Duration

// Float is d in milliseconds, as the JSON has it.
func (d Milliseconds) Float() float64 { return float64(d) / float64(time.Millisecond) }

// MarshalJSON writes d as milliseconds with three decimals.
func (d Milliseconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, d.Float(), 'f', 3, 64), nil
}

// UnmarshalJSON reads a number of milliseconds, so that a report read
// back from JSON holds the durations it was written with.
func (d *Milliseconds) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("milliseconds: %w", err)
	}
	*d = Milliseconds(math.Round(v * float64(time.Millisecond)))
	return nil
}

// ms formats d for the table.
func (d Milliseconds) ms() string {
	v := d.Float()
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 1000:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

// errorTally counts errors by kind. Errors are rare next to samples, so a
// mutex is cheap enough.
type errorTally struct {
	mu    sync.Mutex
	kinds map[string]*ErrorKind
}

// ErrorKind is one kind of error a run met, how often, and the first
// message seen for it.
type ErrorKind struct {
	Kind    string `json:"kind"`
	Count   int64  `json:"count"`
	Example string `json:"example,omitempty"`
}

func (t *errorTally) add(kind, example string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.kinds == nil {
		t.kinds = make(map[string]*ErrorKind)
	}
	k := t.kinds[kind]
	if k == nil {
		k = &ErrorKind{Kind: kind, Example: example}
		t.kinds[kind] = k
	}
	k.Count++
}

// list returns the kinds, most frequent first, and their total.
func (t *errorTally) list() ([]ErrorKind, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ErrorKind, 0, len(t.kinds))
	var total int64
	for _, k := range t.kinds {
		out = append(out, *k)
		total += k.Count
	}
	slices.SortFunc(out, func(a, b ErrorKind) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Kind, b.Kind))
	})
	return out, total
}
