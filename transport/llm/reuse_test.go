package llm_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/transport/llm"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// Answers that end cleanly leave their connection for the next one: to a
// real model a new connection costs a TLS handshake before the first token.
func TestStreamsReuseConnection(t *testing.T) {
	fake := llmfake.New(llmfake.Options{Tokens: 5, TokenDelay: time.Millisecond})
	ts := httptest.NewUnstartedServer(fake)
	var conns atomic.Int32
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(func() { fake.Close(); ts.Close() })
	c := newClient(t, ts.URL+"/v1", llm.OpenAIOptions{})
	for i := range 20 {
		s, err := c.Stream(testContext(t), chatRequest("hello"))
		if err != nil {
			t.Fatal(err)
		}
		if r := drain(s); r.err != nil {
			t.Fatalf("stream %d: %v", i, r.err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 streams in a row opened %d connections, want 1", n)
	}
}
