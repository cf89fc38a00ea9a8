package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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
	c, _, err := wsclient.Dial(*url, wsclient.Options{})
	if err != nil {
		return fmt.Errorf("connect to %s: %w (is the server running?)", *url, err)
	}
	defer c.Close()
	if err := c.Authenticate(*tok); err != nil {
		return err
	}
	f, err := c.Next(15 * time.Second)
	if err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	if f.Type != "connected" {
		return fmt.Errorf("authenticate: %s", describe(f))
	}
	fmt.Fprintf(m.Stdout, "Connected as %s (session %s).\n", f.UserID, f.SessionID)
	if f.Notice != "" {
		fmt.Fprintf(m.Stdout, "Notice: %s\n", f.Notice)
	}
	t := &terminal{m: m, c: c, answered: make(chan struct{}, 1), quitting: make(chan struct{})}
	// A server that keeps no conversation (protocol 1.0, or history.persist
	// off) names none.
	t.conversations = f.ConversationID != ""
	if t.conversations {
		fmt.Fprintf(m.Stdout, "Conversation %s.\n", f.ConversationID)
		if err := t.showRecent(); err != nil {
			return err
		}
	}
	fmt.Fprintln(m.Stdout, chatHelp)
	go t.printFrames()
	defer close(t.quitting)
	return t.readInput(ctx)
}

// terminal is one interactive chat: lines typed become messages, one at a
// time, so that input piped in a burst is not answered with busy.
type terminal struct {
	m             *Main
	c             *wsclient.Client
	conversations bool          // the server keeps conversations: history and reset work
	waiting       bool          // a request was sent and its reply has not ended
	answered      chan struct{} // signalled when a reply ends
	quitting      chan struct{}

	mu     sync.Mutex // guards what printFrames learns for readInput
	oldest string     // id of the oldest stored message shown; "" for none
	more   bool       // the conversation has messages older than those shown
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
		case <-t.c.Done():
			return nil
		case <-t.answered:
			t.waiting = false
		case line, ok := <-lines:
			if !ok {
				t.waitAnswer(ctx) // end of input: let the last answer finish
				return nil
			}
			if err := t.sendLine(ctx, strings.TrimSpace(line)); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
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
		return t.c.Send(map[string]string{"type": "cancel"})
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
			return t.c.Reset()
		}
		t.mu.Lock()
		oldest, more := t.oldest, t.more
		t.mu.Unlock()
		if !more {
			fmt.Fprintln(t.m.Stdout, "[no earlier messages]")
			return nil
		}
		t.waiting = true
		return t.c.History(chatPage, oldest)
	}
	t.waitAnswer(ctx)
	t.waiting = true
	return t.c.Message(line, "")
}

// showRecent prints the last messages of the conversation, before any
// other frame can arrive.
func (t *terminal) showRecent() error {
	if err := t.c.History(chatPage, ""); err != nil {
		return err
	}
	for {
		f, err := t.c.Next(15 * time.Second)
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
	case <-t.c.Done():
	case <-ctx.Done():
	case <-time.After(answerWait):
	}
	t.waiting = false
}

// printFrames writes answers as they stream: each frame's delta, then a
// line break and a marker when the answer is done.
func (t *terminal) printFrames() {
	out := t.m.Stdout
	for {
		f, err := t.c.Next(24 * time.Hour)
		var ce *wsclient.CloseError
		switch {
		case errors.As(err, &ce):
			select {
			case <-t.quitting:
			default:
				fmt.Fprintf(out, "\n[connection closed: %d %s]\n", ce.Code, ce.Reason)
			}
			return
		case err != nil:
			continue
		}
		switch f.Type {
		case "response":
			fmt.Fprint(out, f.Delta)
			if f.Done {
				tag := f.FinishReason
				if f.Cached {
					tag += ", cached"
				}
				fmt.Fprintf(out, "\n[%s]\n", tag)
				t.signal()
			}
		case "error":
			fmt.Fprintf(out, "\n[error %s]\n", describe(f))
			t.signal()
		case "history":
			t.printPage(f)
			t.signal()
		case "reset":
			t.mu.Lock()
			t.oldest, t.more = "", false
			t.mu.Unlock()
			fmt.Fprintf(out, "[new conversation %s]\n", f.ConversationID)
			t.signal()
		}
	}
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
