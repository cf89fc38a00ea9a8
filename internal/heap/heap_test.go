package heap

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestFreeHandler frees memory that was just dropped: the heap in use
// after is below the heap in use before, and the figures are reported.
func TestFreeHandler(t *testing.T) {
	garbage := make([][]byte, 0, 1024)
	for range 1024 {
		garbage = append(garbage, make([]byte, 4096))
	}
	garbage = nil
	_ = garbage
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
	if f.HeapInuseAfter >= f.HeapInuseBefore {
		t.Errorf("heap in use %d before, %d after: 4 MiB of garbage was not collected", f.HeapInuseBefore, f.HeapInuseAfter)
	}
}
