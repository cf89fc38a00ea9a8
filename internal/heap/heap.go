// Package heap lets a benchmark ask a process to return its free memory to
// the system before it samples the resident size, so that the figure is
// the memory in use rather than how far the collector and the scavenger
// happen to have got.
package heap

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"
)

// Freed is what FreeHandler answers.
type Freed struct {
	HeapInuseBefore uint64  `json:"heap_inuse_bytes_before"`
	HeapInuseAfter  uint64  `json:"heap_inuse_bytes_after"`
	StackInuse      uint64  `json:"stack_inuse_bytes"`
	Released        uint64  `json:"heap_released_bytes"`
	TookMillis      float64 `json:"took_ms"`
}

// FreeHandler collects garbage and returns every free page to the system
// (debug.FreeOSMemory), then answers with the heap figures before and
// after. It stops the world for a full collection: for benchmarks and
// operators, never for a path a client can reach.
func FreeHandler(w http.ResponseWriter, _ *http.Request) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	debug.FreeOSMemory()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Freed{
		HeapInuseBefore: before.HeapInuse, HeapInuseAfter: after.HeapInuse,
		StackInuse: after.StackInuse, Released: after.HeapReleased,
		TookMillis: float64(took.Microseconds()) / 1000,
	})
}
