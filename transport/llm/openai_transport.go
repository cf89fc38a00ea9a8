package llm

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// go-openai returns no response headers with an error, so a RoundTripper
// wrapped around the real one records what Stream needs from a failed
// response in a respInfo carried by the request's context.
type respInfoKey struct{}

type respInfo struct {
	retryAfter time.Duration
	body       io.Closer
}

// closeBody closes a failed response's body: go-openai reads it but does
// not close it.
func (i *respInfo) closeBody() {
	if i.body != nil {
		_ = i.body.Close()
	}
}

type headerTransport struct {
	base http.RoundTripper
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode < http.StatusBadRequest {
		resp.Body = &drainingBody{ReadCloser: resp.Body}
		return resp, nil
	}
	// RoundTrip runs on the goroutine that called Client.Do, so info needs no
	// lock: Do returns after this write.
	if info, ok := req.Context().Value(respInfoKey{}).(*respInfo); ok {
		info.retryAfter = retryAfter(resp.Header, time.Now())
		info.body = resp.Body
	}
	return resp, err
}

// maxRetryAfter bounds what a server may ask for, keeping the conversion to
// a Duration from overflowing.
const maxRetryAfter = time.Hour

// retryAfter reads retry-after-ms (sent by OpenAI and Azure) or
// Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	return min(parseRetryAfter(h, now), maxRetryAfter)
}

func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(min(ms, float64(maxRetryAfter/time.Millisecond)) * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !(secs > 0) { // also rejects NaN
			return 0
		}
		return time.Duration(min(secs, maxRetryAfter.Seconds()) * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// maxDrain is the most a stream's body is read past its [DONE] to reach
// its end.
const maxDrain = 4 << 10

// drainingBody reads a body to its end before closing it. go-openai stops
// at the [DONE] event, before the end of the chunked body that follows it,
// and net/http closes a connection whose body was closed unread: without
// this every answer would open a new connection (and TLS session) to the
// model.
type drainingBody struct {
	io.ReadCloser
	once sync.Once
}

func (b *drainingBody) Close() error {
	b.once.Do(func() { _, _ = io.CopyN(io.Discard, b.ReadCloser, maxDrain) })
	return b.ReadCloser.Close()
}
