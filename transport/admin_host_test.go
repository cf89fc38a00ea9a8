package transport

import (
	"net/http"
	"testing"
)

// TestAdminHostWithoutToken: without a token the admin listener answers
// only loopback host names, so a page that rebinds its own name to
// 127.0.0.1 cannot read it from a browser; with a token any host may ask.
func TestAdminHostWithoutToken(t *testing.T) {
	open := newAdminFixture(t, nil)
	guarded := newAdminFixture(t, func(o *AdminOptions) { o.Token = "s3cret-admin-token" })
	tests := []struct {
		name string
		f    *adminFixture
		host string
		auth string
		want int
	}{
		{"localhost", open, "localhost", "", 200},
		{"localhost with port", open, "localhost:9090", "", 200},
		{"LOCALHOST", open, "LOCALHOST:9090", "", 200},
		{"127.0.0.1", open, "127.0.0.1:9090", "", 200},
		{"[::1]", open, "[::1]:9090", "", 200},
		{"[::1] without port", open, "[::1]", "", 200},
		{"rebound name", open, "attacker.example:9090", "", 403},
		{"rebound name without port", open, "attacker.example", "", 403},
		{"localhost suffix", open, "localhost.attacker.example", "", 403},
		{"other loopback address", open, "127.0.0.2:9090", "", 403},
		{"any host with the token", guarded, "admin.internal:9090", "Bearer s3cret-admin-token", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/stats", "/stats/users/" + adminUser, "/metrics", "/"} {
				req, err := http.NewRequest(http.MethodGet, tt.f.admin.URL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Host = tt.host
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("%s with Host %q: status %d, want %d", path, tt.host, resp.StatusCode, tt.want)
				}
			}
		})
	}
}
