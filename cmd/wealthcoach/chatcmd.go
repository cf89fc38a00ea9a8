package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

const chatHelp = `Type a message and press Enter. Commands: /history shows earlier messages, ` +
	`/reset starts a new conversation, /cancel stops the answer, /quit leaves.`

// chatPage is how many messages the chat shows of the conversation at
// start, and then with each /history.
const chatPage = 10

// chat is the interactive terminal client.
func (m *Main) chat(ctx context.Context, args []string) error {
	fs, common := m.flagSet("chat")
	url := fs.String("url", "", "chat endpoint (default: ws://<server.listen>/ws/chat)")
	tok := fs.String("token", "", "access token (default: mint one for --user with the configured secret)")
	user := fs.String("user", store.DemoUserID, "user to mint a token for")
	reconnectFor := fs.Duration("reconnect", 2*time.Minute, "how long to keep trying to reconnect after the connection drops (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// With a token given, the configuration only supplies the default
	// URL: no secret is needed to chat.
	validate := (*config.Config).Validate
	if *tok != "" {
		validate = func(*config.Config) error { return nil }
	}
	cfg, _, err := m.loadConfigFor(*common, validate)
	if err != nil {
		return err
	}
	if *url == "" {
		*url = "ws://" + dialable(cfg.Server.Listen) + "/ws/chat"
	}
	if *tok == "" {
		if *tok, err = mintToken(cfg, *user, time.Hour, ""); err != nil {
			return err
		}
	}
	c, f, err := connect(*url, *tok)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "Connected as %s (session %s).\n", f.UserID, f.SessionID)
	if f.Notice != "" {
		fmt.Fprintf(m.Stdout, "Notice: %s\n", f.Notice)
	}
	t := newTerminal(m, c, *url, *tok, *reconnectFor)
	// A server that keeps no conversation (protocol 1.0, or history.persist
	// off) names none.
	t.conversations = f.ConversationID != ""
	if t.conversations {
		fmt.Fprintf(m.Stdout, "Conversation %s.\n", f.ConversationID)
		if err := t.showRecent(c); err != nil {
			_ = c.Close()
			return err
		}
	}
	fmt.Fprintln(m.Stdout, chatHelp)
	go t.printFrames(c)
	err = t.readInput(ctx)
	t.stop()
	return err
}

// terminal is one interactive chat: lines typed become messages, one at a
// time, so that input piped in a burst is not answered with busy.
type terminal struct {
	m             *Main
	url, token    string
	reconnectFor  time.Duration // how long to try to reconnect after a drop
	conversations bool          // the server keeps conversations: history and reset work
	waiting       bool          // a request was sent and its reply has not ended
	answered      chan struct{} // signalled when a reply ends
	quitting      chan struct{} // closed when the chat ends
	gone          chan struct{} // closed when the connection is lost for good
	stopped       chan struct{} // closed when printFrames returns
	idPrefix      string        // message ids, told apart from other clients' of the user
	sent          int           // messages sent, for their ids
	midline       bool          // printFrames left the cursor after answer text

	mu     sync.Mutex       // guards what printFrames and readInput share
	c      *wsclient.Client // the current connection
	up     chan struct{}    // closed while c is connected
	err    error            // why the connection was lost for good
	req    *request         // the reply awaited, if any
	oldest string           // id of the oldest stored message shown; "" for none
	more   bool             // the conversation has messages older than those shown
}

func newTerminal(m *Main, c *wsclient.Client, url, token string, reconnectFor time.Duration) *terminal {
	t := &terminal{m: m, c: c, url: url, token: token, reconnectFor: reconnectFor,
		answered: make(chan struct{}, 1), quitting: make(chan struct{}), gone: make(chan struct{}),
		stopped: make(chan struct{}), up: make(chan struct{}), idPrefix: fmt.Sprintf("chat-%08x", rand.Uint32())}
	close(t.up)
	return t
}

// stop ends the chat: the connection is closed and printFrames has
// returned, or soon will, should it be dialling.
func (t *terminal) stop() {
	close(t.quitting)
	t.mu.Lock()
	c := t.c
	t.mu.Unlock()
	_ = c.Close()
	select {
	case <-t.stopped:
	case <-time.After(2 * time.Second):
	}
}

const answerWait = 2 * time.Minute

// readInput sends each line typed as a message until /quit, end of input or
// the connection closes.
func (t *terminal) readInput(ctx context.Context) error {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(t.m.Stdin)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-t.quitting:
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.gone:
			return t.failure()
		case <-t.answered:
			t.waiting = false
		case line, ok := <-lines:
			if !ok {
				t.waitAnswer(ctx) // end of input: let the last answer finish
				return nil
			}
			if err := t.sendLine(ctx, strings.TrimSpace(line)); err != nil {
				if errors.Is(err, io.EOF) {
					return t.failure()
				}
				return err
			}
		}
	}
}

func (t *terminal) sendLine(ctx context.Context, line string) error {
	switch line {
	case "":
		return nil
	case "/quit", "/exit":
		return io.EOF
	case "/cancel":
		return t.send(ctx, nil, func(c *wsclient.Client) error { return c.Send(map[string]string{"type": "cancel"}) })
	case "/help":
		fmt.Fprintln(t.m.Stdout, chatHelp)
		return nil
	case "/history", "/reset":
		// Like a message, each waits for the answer in flight, so that
		// its reply is not printed into the answer, and is waited for in
		// turn.
		t.waitAnswer(ctx)
		if !t.conversations {
			fmt.Fprintln(t.m.Stdout, "[this server keeps no conversation]")
			return nil
		}
		if line == "/reset" {
			t.waiting = true
			return t.send(ctx, &request{kind: "reset"}, (*wsclient.Client).Reset)
		}
		t.mu.Lock()
		oldest, more := t.oldest, t.more
		t.mu.Unlock()
		if !more {
			fmt.Fprintln(t.m.Stdout, "[no earlier messages]")
			return nil
		}
		t.waiting = true
		return t.send(ctx, &request{kind: "history"}, func(c *wsclient.Client) error { return c.History(chatPage, oldest) })
	}
	t.waitAnswer(ctx)
	t.waiting = true
	t.sent++
	id := fmt.Sprintf("%s-%d", t.idPrefix, t.sent)
	return t.send(ctx, &request{kind: kindMessage, msgID: id}, func(c *wsclient.Client) error { return c.Message(line, id) })
}

// showRecent prints the last messages of the conversation, before any
// other frame can arrive.
func (t *terminal) showRecent(c *wsclient.Client) error {
	if err := c.History(chatPage, ""); err != nil {
		return err
	}
	for {
		f, err := c.Next(15 * time.Second)
		switch {
		case errors.Is(err, wsclient.ErrTimeout):
			// printFrames prints the page if it comes later.
			fmt.Fprintln(t.m.Stdout, "[earlier messages not received yet]")
			return nil
		case err != nil:
			return fmt.Errorf("read the conversation: %w", err)
		}
		switch f.Type {
		case "history":
			t.printPage(f)
			return nil
		case "error":
			// The store may be down: the chat goes on without the past,
			// which /history asks for again.
			fmt.Fprintf(t.m.Stdout, "[earlier messages unavailable: %s]\n", describe(f))
			t.more = true
			return nil
		}
	}
}

// printPage prints a history page, oldest first, and remembers where the
// next /history starts.
func (t *terminal) printPage(f *wsclient.Frame) {
	out := t.m.Stdout
	t.mu.Lock()
	first := t.oldest == ""
	if len(f.Messages) > 0 {
		t.oldest = f.Messages[0].ID
	}
	t.more = f.More
	t.mu.Unlock()
	switch {
	case len(f.Messages) == 0 && first:
		return // a new conversation: nothing to show
	case len(f.Messages) == 0:
		fmt.Fprintln(out, "[no earlier messages]")
		return
	case first:
		fmt.Fprintln(out, "--- earlier in this conversation ---")
	default:
		fmt.Fprintln(out, "--- older messages ---")
	}
	for _, msg := range f.Messages {
		who := "You"
		if msg.Role == "assistant" {
			who = "Coach"
		}
		fmt.Fprintf(out, "%s [%s]: %s\n", who, msg.At.Local().Format("2006-01-02 15:04"), msg.Content)
	}
	if f.More {
		fmt.Fprintln(out, "--- /history shows older messages ---")
	} else {
		fmt.Fprintln(out, "---")
	}
}

// waitAnswer waits for the answer in flight, if any, to end.
func (t *terminal) waitAnswer(ctx context.Context) {
	if !t.waiting {
		return
	}
	select {
	case <-t.answered:
	case <-t.gone:
	case <-ctx.Done():
	case <-time.After(answerWait):
	}
	t.waiting = false
}

// printFrames writes answers as they stream: each frame's delta, then a
// line break and a marker when the answer is done. It reconnects when the
// connection drops.
func (t *terminal) printFrames(c *wsclient.Client) {
	defer close(t.stopped)
	for c != nil {
		f, err := c.Next(24 * time.Hour)
		var ce *wsclient.CloseError
		switch {
		case errors.As(err, &ce):
			c = t.reconnect(ce)
		case err == nil:
			t.show(f)
		}
	}
}

func (t *terminal) show(f *wsclient.Frame) {
	out := t.m.Stdout
	switch f.Type {
	case "response":
		t.track(f)
		fmt.Fprint(out, f.Delta)
		t.midline = t.midline || f.Delta != ""
		if f.Done {
			tag := f.FinishReason
			if f.Cached {
				tag += ", cached"
			}
			fmt.Fprintf(out, "\n[%s]\n", tag)
			t.midline = false
			t.finish()
		}
	case "error":
		fmt.Fprintf(out, "\n[error %s]\n", describe(f))
		t.midline = false
		t.finish()
	case "history":
		t.printPage(f)
		t.finish()
	case "reset":
		t.mu.Lock()
		t.oldest, t.more = "", false
		t.mu.Unlock()
		fmt.Fprintf(out, "[new conversation %s]\n", f.ConversationID)
		t.finish()
	}
}

// track remembers the last frame shown of the answer awaited, to resume
// it from there should the connection drop.
func (t *terminal) track(f *wsclient.Frame) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.req; r != nil && r.kind == kindMessage && (f.ID == r.answerID || f.ReplyTo == r.msgID) {
		r.answerID, r.seq = f.ID, f.Seq
	}
}

// finish ends the reply awaited.
func (t *terminal) finish() {
	t.mu.Lock()
	t.req = nil
	t.mu.Unlock()
	t.signal()
}

func (t *terminal) signal() {
	select {
	case t.answered <- struct{}{}:
	default:
	}
}

func describe(f *wsclient.Frame) string {
	if f.Type == "error" {
		s := f.Code + ": " + f.Message
		if f.RetryAfter > 0 {
			s += fmt.Sprintf(" (retry in %ds)", f.RetryAfter)
		}
		return s
	}
	return string(f.Raw)
}

// dialable turns a listen address into one a client can dial.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
