package main

import (
	"context"
	"net/http"
	"net/http/pprof"

	"github.com/wealthwarriors/wealthcoach/transport"
)

// version is the build shown on /stats and the admin dashboard, set with
// -ldflags "-X main.version=...".
var version = "dev"

// adminHandler serves the operator endpoints on the admin listener, with
// the Go profiler under /debug/pprof/ behind the same token.
func (s *server) adminHandler() http.Handler {
	return transport.NewAdmin(transport.AdminOptions{
		Node:  s.node,
		WS:    s.ws,
		Token: s.cfg.Admin.Token,
		Checks: map[string]func(context.Context) error{
			"store": s.store.Ping,
			"cache": s.cache.Ping,
		},
		Logger: s.log,
		Build:  version,
		Extra: map[string]http.Handler{
			"GET /debug/pprof/":        http.HandlerFunc(pprof.Index),
			"GET /debug/pprof/cmdline": http.HandlerFunc(pprof.Cmdline),
			"GET /debug/pprof/profile": http.HandlerFunc(pprof.Profile),
			"GET /debug/pprof/symbol":  http.HandlerFunc(pprof.Symbol),
			"GET /debug/pprof/trace":   http.HandlerFunc(pprof.Trace),
		},
	})
}
