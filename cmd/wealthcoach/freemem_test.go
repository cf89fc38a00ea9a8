package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/wealthwarriors/wealthcoach/internal/heap"
)

// TestAdminFreesMemory: the bench's idle-memory samples ask the admin
// listener to collect garbage and return free memory first; only POST
// does it.
func TestAdminFreesMemory(t *testing.T) {
	ts := startServer(t, serverOpts{})
	resp, err := http.Post(ts.admin+"/debug/free-memory", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var f heap.Freed
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s, body: %v", resp.Status, err)
	}
	if f.HeapInuseAfter == 0 || f.StackInuse == 0 {
		t.Errorf("figures missing: %+v", f)
	}
	get, err := http.Get(ts.admin + "/debug/free-memory")
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if get.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s, want 405", get.Status)
	}
}
