package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// The chat outlives a dropped connection. When the socket drops (no close
// code) or the server goes away or asks to come back later, printFrames
// dials again with exponential backoff, authenticates with the same token
// and, if an answer was streaming, resumes it from the last frame shown
// (SPEC 8.3), so that only the text not yet seen is printed. Lines typed
// meanwhile wait for the new connection. A close that refuses this user
// (1008) ends the chat: dialling again would be refused too.

const (
	firstRetry = 500 * time.Millisecond
	maxRetry   = 10 * time.Second
)

// request is the reply the terminal waits for.
type request struct {
	kind     string // "message", "history" or "reset"
	msgID    string // the message's id, echoed as reply_to
	answerID string // the answer's id, once a frame of it was shown
	seq      int    // the last frame of the answer shown
}

const kindMessage = "message"

// pendingIn finds the answer to r among a connected frame's interrupted
// ones: by id once a frame was shown, else by the message it replies to.
func (r *request) pendingIn(ps []wsclient.Pending) (string, bool) {
	for _, p := range ps {
		if r.kind == kindMessage && (p.ID == r.answerID || p.ReplyTo == r.msgID) {
			return p.ID, true
		}
	}
	return "", false
}

// connect dials the chat endpoint and authenticates; it returns the
// connected frame. A refusal comes as an error frame, then a close whose
// code, wrapped in the error, says whether trying again can help.
func connect(url, tok string) (*wsclient.Client, *wsclient.Frame, error) {
	c, _, err := wsclient.Dial(url, wsclient.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w (is the server running?)", url, err)
	}
	var f *wsclient.Frame
	if err = c.Authenticate(tok); err == nil {
		f, err = c.Next(15 * time.Second)
	}
	switch {
	case err != nil:
		err = fmt.Errorf("authenticate: %w", err)
	case f.Type != "connected":
		err = fmt.Errorf("authenticate: %s", describe(f))
		if ce, cerr := c.Closed(5 * time.Second); cerr == nil {
			err = fmt.Errorf("%w: %w", err, ce)
		}
	}
	if err != nil {
		_ = c.CloseWithoutFrame()
		return nil, nil, err
	}
	return c, f, nil
}

// reconnectable reports whether a close leaves the server worth dialling
// again: a drop without close code, a server shutting down or restarting,
// or one asking to try again later.
func reconnectable(code int) bool {
	switch code {
	case 1001, 1006, 1012, 1013:
		return true
	}
	return false
}

// reconnect follows the close ce: it returns a new connection, or nil when
// the chat ends.
func (t *terminal) reconnect(ce *wsclient.CloseError) *wsclient.Client {
	if t.quit() {
		return nil
	}
	t.setDown()
	if !reconnectable(ce.Code) || t.reconnectFor <= 0 {
		t.status("connection closed: %d %s", ce.Code, ce.Reason)
		t.end(nil)
		return nil
	}
	lost, delay := time.Now(), firstRetry
	what := "connection lost; reconnecting"
	for {
		d := jitter(delay)
		t.status("%s in %s", what, d.Round(100*time.Millisecond))
		if !t.pause(d) {
			return nil
		}
		c, hello, err := connect(t.url, t.token)
		switch {
		case t.quit():
			if c != nil {
				_ = c.Close()
			}
			return nil
		case err == nil:
			t.resume(c, hello)
			t.setUp(c)
			return c
		case errors.As(err, &ce) && !reconnectable(ce.Code):
			t.end(fmt.Errorf("reconnect: %w", err))
			return nil
		}
		delay = min(2*delay, maxRetry)
		if time.Since(lost)+delay > t.reconnectFor {
			t.end(fmt.Errorf("connection lost: could not reconnect within %s: %w", t.reconnectFor, err))
			return nil
		}
		what = "reconnect failed; retrying"
	}
}

// jitter spreads d by up to a tenth either way, so that clients dropped
// together do not come back together.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5)
}

// resume asks for the answer the drop interrupted, from after the last
// frame shown, if the server still has it; otherwise the reply awaited is
// given up, so that the next line is not held for it.
func (t *terminal) resume(c *wsclient.Client, hello *wsclient.Frame) {
	t.mu.Lock()
	r := t.req // only this goroutine changes its fields
	t.mu.Unlock()
	if r == nil {
		t.status("reconnected")
		return
	}
	if id, ok := r.pendingIn(hello.Pending); ok {
		if err := c.ResumeAnswer(id, r.seq); err == nil {
			t.status("reconnected; resuming the answer")
			return
		}
	}
	t.status("reconnected; the reply was lost: send it again")
	t.finish()
}

// pause waits d, or reports false when the chat ends first.
func (t *terminal) pause(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-t.quitting:
		return false
	}
}

func (t *terminal) quit() bool {
	select {
	case <-t.quitting:
		return true
	default:
		return false
	}
}

func (t *terminal) setDown() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.up = make(chan struct{})
}

func (t *terminal) setUp(c *wsclient.Client) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.c = c
	close(t.up)
}

// end marks the connection lost for good, with why when it is a failure.
func (t *terminal) end(err error) {
	t.mu.Lock()
	t.err = err
	t.mu.Unlock()
	close(t.gone)
}

// failure is why the connection was lost for good, or nil.
func (t *terminal) failure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// client waits for a connection, or returns nil once the chat has lost it
// for good or ctx ends.
func (t *terminal) client(ctx context.Context) *wsclient.Client {
	for {
		t.mu.Lock()
		c, up := t.c, t.up
		t.mu.Unlock()
		select {
		case <-up:
		case <-t.gone:
			return nil
		case <-ctx.Done():
			return nil
		}
		select {
		case <-c.Done():
			// Dropped, and printFrames has yet to notice: it will mark the
			// connection down in a moment.
			time.Sleep(20 * time.Millisecond)
		default:
			return c
		}
	}
}

// send sends with a live connection and, once sent, awaits r (if not nil).
// The lock orders this with resume, which reads what is awaited. A send
// that failed because the connection dropped is sent on the next one.
func (t *terminal) send(ctx context.Context, r *request, fn func(*wsclient.Client) error) error {
	for {
		c := t.client(ctx)
		if c == nil {
			return io.EOF
		}
		t.mu.Lock()
		err := fn(c)
		if err == nil && r != nil {
			t.req = r
		}
		t.mu.Unlock()
		if err == nil {
			return nil
		}
		select {
		case <-c.Done():
		default:
			return err
		}
	}
}

// status prints a status line, on a line of its own.
func (t *terminal) status(format string, args ...any) {
	if t.midline {
		fmt.Fprintln(t.m.Stdout)
		t.midline = false
	}
	fmt.Fprintf(t.m.Stdout, "["+format+"]\n", args...)
}
