// Command baseline is a bare WebSocket server that speaks just enough of
// the chat protocol to be the yardstick in benchmarks of the real server:
//
//	baseline --mode auth  --secret S
//	    verifies the JWT in the first frame and answers "connected";
//	    nothing else (no actors, no store).
//	baseline --mode relay --secret S --model-url http://127.0.0.1:8099/v1
//	    also answers each "message" by streaming a chat completion for
//	    that message alone and relaying every chunk as a response frame
//	    (no actors, no cache, no history, no coalescing of frames).
//
// Its gws options are the production server's: ordered frames, panics
// recovered, a 64 KiB read limit, UTF-8 checked, no compression.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/heap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "baseline:", err)
		}
		os.Exit(1)
	}
}

// run parses the flags and serves until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.mode, "mode", "auth", "auth (verify the token only) or relay (also stream answers from the model)")
	listen := fs.String("listen", "127.0.0.1:8090", "listen address; the endpoint is /ws/chat")
	secret := fs.String("secret", os.Getenv("WEALTHCOACH_AUTH_JWT_SECRET"), "HS256 secret (default $WEALTHCOACH_AUTH_JWT_SECRET)")
	fs.StringVar(&o.modelURL, "model-url", "http://127.0.0.1:8099/v1", "OpenAI-compatible base URL, for relay")
	fs.StringVar(&o.model, "model", "gpt-4o-mini", "model name sent to the model server")
	fs.StringVar(&o.apiKey, "api-key", "baseline", "API key sent to the model server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.secret = []byte(*secret)
	o.log = slog.New(slog.NewTextHandler(stderr, nil))
	b, err := newBaseline(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/ws/chat", b)
	// The bench's idle-memory samples, as on the server's admin listener.
	mux.HandleFunc("POST /debug/free-memory", heap.FreeHandler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	o.log.Info("baseline listening", slog.String("mode", o.mode), slog.String("chat", "ws://"+ln.Addr().String()+"/ws/chat"))
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	b.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx) // upgraded sockets are not the server's: the process exit ends them
	return nil
}
