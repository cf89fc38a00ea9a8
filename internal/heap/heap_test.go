package heap

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// held keeps 4 MiB live until the test drops it, so that no collection
// can free it before the handler is asked to.
var held [][]byte

// TestFreeHandler frees memory that was just dropped: the heap in use
// after is below the heap in use before by about what was dropped, and
// the figures are reported.
func TestFreeHandler(t *testing.T) {
	held = make([][]byte, 1024)
	for i := range held {
		held[i] = make([]byte, 4096)
	}
	held = nil
	rec := httptest.NewRecorder()
	FreeHandler(rec, httptest.NewRequest(http.MethodPost, "/debug/free-memory", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var f Freed
	if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	if f.HeapInuseAfter == 0 || f.StackInuse == 0 || f.Released == 0 {
		t.Errorf("figures missing: %+v", f)
	}
	if f.HeapInuseBefore < f.HeapInuseAfter+3<<20 {
		t.Errorf("heap in use %d before, %d after: 4 MiB of garbage was not collected", f.HeapInuseBefore, f.HeapInuseAfter)
	}
}
