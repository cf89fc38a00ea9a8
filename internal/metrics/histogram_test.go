package metrics

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []uint64{0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 123456, 1 << 40, 1<<63 + 5} {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("value %d: bucket %d out of range", v, i)
		}
		if v >= bucketUpper(i) {
			t.Fatalf("value %d in bucket %d whose upper bound is %d", v, i, bucketUpper(i))
		}
		if i > 0 && v < bucketUpper(i-1) {
			t.Fatalf("value %d in bucket %d but below the previous bound %d", v, i, bucketUpper(i-1))
		}
	}
}

func TestQuantilesWithinBucketError(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]uint64, 10000)
	for i := range vals {
		vals[i] = uint64(r.ExpFloat64() * 5000)
		h.Observe(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if float64(got) < float64(exact) || float64(got) > float64(exact)*1.13+1 {
			t.Errorf("q%.2f: got %d, exact %d", q, got, exact)
		}
	}
	if h.Count() != 10000 {
		t.Fatalf("count %d", h.Count())
	}
	cum := h.Cumulative([]uint64{1000, 1 << 62})
	if cum[1] != 10000 || cum[0] == 0 || cum[0] > 10000 {
		t.Fatalf("cumulative %v", cum)
	}
}

func TestEmptyHistogram(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := uint64(1)
		for pb.Next() {
			v = v*6364136223846793005 + 1442695040888963407
			h.Observe(v >> 44)
		}
	})
}
