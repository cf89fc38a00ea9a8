package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"
)

// adminHandler serves the operator endpoints on the admin listener.
func (s *server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /stats", s.statsHandler)
	return s.requireToken(mux)
}

// requireToken checks admin.token, when set, as a bearer token.
func (s *server) requireToken(next http.Handler) http.Handler {
	token := s.cfg.Admin.Token
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wealthcoach-admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readyz is 200 while the node takes sessions and its store answers.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.node.Draining() {
		http.Error(w, "draining\n", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "store unreachable\n", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

func (s *server) statsHandler(w http.ResponseWriter, _ *http.Request) {
	st := s.node.Stats()
	out := map[string]any{
		"uptime_seconds": int64(st.Uptime().Seconds()),
		"sessions": map[string]int64{
			"unauthenticated": st.Unauthenticated.Load(),
			"authenticated":   st.Authenticated.Load(),
			"streaming":       st.Streaming.Load(),
			"opened":          st.SessionsOpened.Load(),
			"closed":          st.SessionsClosed.Load(),
			"failures":        st.SessionFailures.Load(),
			"stopped":         st.SessionsStopped.Load(),
		},
		"users":      st.Users.Load(),
		"rejections": st.Rejections(),
		"cache": map[string]int64{
			"hits": st.CacheHits.Load(), "misses": st.CacheMisses.Load(), "errors": st.CacheErrors.Load(),
		},
		"llm": map[string]int64{
			"in_flight": st.LLMInFlight.Load(), "requests": st.LLMRequests.Load(), "errors": st.LLMErrors.Load(),
			"rate_limited": st.LLMRateLimited.Load(), "retries": st.LLMRetries.Load(),
			"tokens_in": st.TokensIn.Load(), "tokens_out": st.TokensOut.Load(),
		},
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
