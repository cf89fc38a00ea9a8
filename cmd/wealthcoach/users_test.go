package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreCommands runs users and migrate as an operator would, with no
// JWT secret configured: they only need the store.
func TestStoreCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cmd.db")
	run := func(args ...string) (string, error) {
		out := &syncBuffer{}
		m := &Main{Stdin: strings.NewReader(""), Stdout: out, Stderr: out,
			Getenv: func(k string) (string, bool) {
				if k == "WEALTHCOACH_STORE_DSN" {
					return db, true
				}
				return "", false
			}}
		// No config.yaml here: the built-in defaults, with the DSN above.
		err := m.Run(context.Background(), args)
		return out.String(), err
	}
	tests := []struct {
		args    []string
		want    string
		wantErr bool
	}{
		{[]string{"users", "add", "alice", "--name", "Alice"}, "added user alice", false},
		{[]string{"users", "add", "alice"}, "", true},
		{[]string{"users", "seed", "--count", "3", "--prefix", "p"}, "seeded 3 users p0 … p2 (3 new)", false},
		{[]string{"users", "seed", "--count", "3", "--prefix", "p"}, "(0 new)", false},
		{[]string{"migrate", "status"}, "0001", false},
		{[]string{"users", "add"}, "usage", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, err := run(tt.args...)
			if (err != nil) != tt.wantErr || !strings.Contains(out, tt.want) {
				t.Fatalf("got %q, err %v", out, err)
			}
		})
	}
}
