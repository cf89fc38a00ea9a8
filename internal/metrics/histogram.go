package metrics

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations (or sizes) in logarithmic buckets, eight per
// power of two, so any quantile is known within about 9 %. Observe is a
// few atomic operations and never allocates or locks, so it can sit on
// every hot path; reading it never blocks an observer.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Uint64
}

const (
	histSubBits = 3 // 8 buckets per power of two
	histBuckets = 64 << histSubBits
)

// bucketOf maps v >= 0 to its bucket.
func bucketOf(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	exp := bits.Len64(v) - 1 // v in [2^exp, 2^(exp+1))
	sub := (v >> (exp - histSubBits)) & (1<<histSubBits - 1)
	return (exp-histSubBits+1)<<histSubBits + int(sub)
}

// bucketUpper is the exclusive upper bound of bucket i.
func bucketUpper(i int) uint64 {
	if i < 1<<histSubBits {
		return uint64(i) + 1
	}
	exp := i>>histSubBits + histSubBits - 1
	sub := uint64(i & (1<<histSubBits - 1))
	if exp >= 63 {
		return math.MaxUint64
	}
	return (1<<histSubBits + sub + 1) << (exp - histSubBits)
}

// Observe records one value.
func (h *Histogram) Observe(v uint64) {
	h.counts[bucketOf(v)].Add(1)
	h.count.Add(1)
	h.sum.Add(v)
}

// ObserveDuration records d in microseconds.
func (h *Histogram) ObserveDuration(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.Observe(uint64(d / time.Microsecond))
}

// Count is the number of values observed.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Sum is the total of the values observed.
func (h *Histogram) Sum() uint64 { return h.sum.Load() }

// Quantile returns the upper bound of the bucket holding quantile q (0 to
// 1), or 0 when nothing was observed.
func (h *Histogram) Quantile(q float64) uint64 {
	var snap [histBuckets]uint64
	var total uint64
	for i := range h.counts {
		snap[i] = h.counts[i].Load()
		total += snap[i]
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range snap {
		seen += c
		if seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(histBuckets - 1)
}

// DurationQuantile returns quantile q of a histogram of microseconds.
func (h *Histogram) DurationQuantile(q float64) time.Duration {
	return time.Duration(h.Quantile(q)) * time.Microsecond
}

// Cumulative returns, for each bound in bounds (ascending), how many values
// were below it: the shape Prometheus histograms take.
func (h *Histogram) Cumulative(bounds []uint64) []uint64 {
	out := make([]uint64, len(bounds))
	for i := range h.counts {
		c := h.counts[i].Load()
		if c == 0 {
			continue
		}
		upper := bucketUpper(i)
		for j, b := range bounds {
			if upper <= b {
				out[j] += c
			}
		}
	}
	return out
}
