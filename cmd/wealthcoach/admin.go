package main

import (
	"context"
	"net/http"
	"net/http/pprof"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/heap"
	"github.com/wealthwarriors/wealthcoach/transport"
	"github.com/wealthwarriors/wealthcoach/transport/llm"
)

// version is the build shown on /stats and the admin dashboard, set with
// -ldflags "-X main.version=...".
var version = "dev"

// adminHandler serves the operator endpoints on the admin listener, with
// the Go profiler under /debug/pprof/ and POST /debug/free-memory behind
// the same token.
func (s *server) adminHandler() http.Handler {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopAdmin = cancel
	return transport.NewAdmin(transport.AdminOptions{
		Context: ctx,
		Node:    s.node,
		WS:      s.ws,
		Token:   s.cfg.Admin.Token,
		// Without the store the node cannot authenticate anyone; without
		// the cache it answers from the model (SPEC 8.6).
		Checks:    map[string]func(context.Context) error{"store": s.store.Ping},
		Degraded:  map[string]func(context.Context) error{"cache": s.cache.Ping},
		Logger:    s.log,
		Build:     version,
		Providers: providerStats(s.node),
		Fleet:     s.adminFleet(),
		Extra: map[string]http.Handler{
			"GET /debug/pprof/":        http.HandlerFunc(pprof.Index),
			"GET /debug/pprof/cmdline": http.HandlerFunc(pprof.Cmdline),
			"GET /debug/pprof/profile": http.HandlerFunc(pprof.Profile),
			"GET /debug/pprof/symbol":  http.HandlerFunc(pprof.Symbol),
			"GET /debug/pprof/trace":   http.HandlerFunc(pprof.Trace),
			// For the bench's memory figures: RSS after a forced collection.
			"POST /debug/free-memory": http.HandlerFunc(heap.FreeHandler),
		},
	})
}

// providerStats reads the model providers' counters when the node asks a
// chain of them (the openai provider); nil otherwise.
func providerStats(node *actors.Node) func() []llm.ProviderStats {
	if c, ok := node.Model().(*llm.Chain); ok {
		return c.Stats
	}
	return nil
}

// adminFleet is the fleet for the operator endpoints: nil, not a nil
// *cluster.Fleet, for a node on its own.
func (s *server) adminFleet() transport.Fleet {
	if s.fleet == nil {
		return nil
	}
	return s.fleet
}
