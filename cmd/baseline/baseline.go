package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lxzan/gws"
	openai "github.com/sashabaranov/go-openai"
)

// options configures a baseline server.
type options struct {
	mode     string // "auth" or "relay"
	secret   []byte // HS256 key
	modelURL string // OpenAI-compatible base URL, for relay
	model    string
	apiKey   string
	log      *slog.Logger
}

// baseline is the /ws/chat endpoint: a gws event handler.
type baseline struct {
	opts     options
	relay    bool
	upgrader *gws.Upgrader
	model    *openai.Client
	ctx      context.Context // ends every relay on Close
	cancel   context.CancelFunc
}

func newBaseline(o options) (*baseline, error) {
	if o.mode != "auth" && o.mode != "relay" {
		return nil, fmt.Errorf("--mode %q: want auth or relay", o.mode)
	}
	if len(o.secret) < 32 {
		return nil, errors.New("--secret: the server's HS256 secret is needed (at least 32 bytes)")
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	b := &baseline{opts: o, relay: o.mode == "relay"}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if b.relay {
		cfg := openai.DefaultConfig(o.apiKey)
		cfg.BaseURL = o.modelURL
		// Keep connections to the model for reuse, as the server's model
		// client does, so that both pay the same per request.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 0
		tr.MaxIdleConnsPerHost = 1024
		cfg.HTTPClient = &http.Client{Transport: tr}
		b.model = openai.NewClientWithConfig(cfg)
	}
	b.upgrader = gws.NewUpgrader(b, &gws.ServerOption{
		ReadMaxPayloadSize: 64 << 10,
		CheckUtf8Enabled:   true,
		ParallelEnabled:    false, // frames of one connection stay in order
		Recovery:           gws.Recovery,
		HandshakeTimeout:   5 * time.Second,
		NewSession:         func() gws.SessionStorage { return &conn{} },
	})
	return b, nil
}

func (b *baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	socket, err := b.upgrader.Upgrade(w, r)
	if err != nil {
		return
	}
	go socket.ReadLoop()
}

// Close cancels every relay in progress.
func (b *baseline) Close() { b.cancel() }

// conn is one connection's state, kept as its gws session storage so that
// a connection costs no map. Only the connection's read loop touches
// userID and cancel; busy is shared with the relay goroutine.
type conn struct {
	userID string
	cancel context.CancelFunc // stops the relay in flight
	busy   atomic.Bool
}

func (*conn) Len() int                     { return 0 }
func (*conn) Load(string) (any, bool)      { return nil, false }
func (*conn) Delete(string)                {}
func (*conn) Store(string, any)            {}
func (*conn) Range(func(string, any) bool) {}

// inFrame is every field a client frame may carry.
type inFrame struct {
	Type    string `json:"type"`
	Token   string `json:"token"`
	Content string `json:"content"`
	ID      string `json:"id"`
}

func (b *baseline) OnOpen(*gws.Conn) {}

func (b *baseline) OnClose(socket *gws.Conn, _ error) {
	if c := socket.Session().(*conn); c.cancel != nil {
		c.cancel()
	}
}

func (b *baseline) OnPing(socket *gws.Conn, p []byte) { _ = socket.WritePong(p) }
func (b *baseline) OnPong(*gws.Conn, []byte)          {}

func (b *baseline) OnMessage(socket *gws.Conn, m *gws.Message) {
	defer m.Close()
	c := socket.Session().(*conn)
	if m.Opcode != gws.OpcodeText {
		_ = socket.WriteClose(1003, []byte("Binary frames not supported"))
		return
	}
	var f inFrame
	err := json.Unmarshal(m.Bytes(), &f)
	if c.userID == "" {
		b.authenticate(socket, c, f, err)
		return
	}
	switch {
	case err != nil:
		sendError(socket, "bad_request", "frame is not a JSON object", "")
	case f.Type == "ping":
		send(socket, map[string]string{"type": "pong"})
	case f.Type == "message" && b.relay:
		b.startRelay(socket, c, f)
	case f.Type == "cancel" && c.cancel != nil:
		c.cancel()
	case f.Type == "authenticate":
		sendError(socket, "already_authenticated", "this connection is already authenticated", "")
	default:
		sendError(socket, "bad_request", "frame type not served by this baseline", f.ID)
	}
}

// authenticate handles the first frame: a valid token gets "connected",
// anything else an error frame and a 1008 close.
func (b *baseline) authenticate(socket *gws.Conn, c *conn, f inFrame, decodeErr error) {
	if decodeErr != nil || f.Type != "authenticate" {
		closeAuth(socket, "auth_required", "Authentication required")
		return
	}
	if f.Token == "" {
		closeAuth(socket, "token_missing", "Token missing")
		return
	}
	tok, err := jwt.Parse(f.Token, func(*jwt.Token) (any, error) { return b.opts.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	var user string
	if err == nil {
		user, err = tok.Claims.GetSubject()
	}
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		closeAuth(socket, "token_expired", "Invalid token")
		return
	case err != nil || user == "":
		closeAuth(socket, "invalid_token", "Invalid token")
		return
	}
	c.userID = user
	send(socket, map[string]string{"type": "connected", "session_id": newSessionID(), "user_id": user})
}

func closeAuth(socket *gws.Conn, code, reason string) {
	sendError(socket, code, reason, "")
	_ = socket.WriteClose(1008, []byte(reason))
}

// startRelay streams the answer to one message on its own goroutine, so
// that the read loop stays free for cancel and ping.
func (b *baseline) startRelay(socket *gws.Conn, c *conn, f inFrame) {
	if strings.TrimSpace(f.Content) == "" {
		sendError(socket, "empty_message", "the message is empty", f.ID)
		return
	}
	if !c.busy.CompareAndSwap(false, true) {
		sendError(socket, "busy", "an answer is still streaming", f.ID)
		return
	}
	if c.cancel != nil {
		c.cancel() // the previous relay has ended; release its context
	}
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	c.cancel = cancel
	go func() {
		defer c.busy.Store(false)
		b.relayAnswer(ctx, socket, f.Content, f.ID)
	}()
}

// responseFrame is the protocol's response frame.
type responseFrame struct {
	Type         string `json:"type"`
	ID           string `json:"id"`
	ReplyTo      string `json:"reply_to,omitempty"`
	Content      string `json:"content"`
	Delta        string `json:"delta"`
	Done         bool   `json:"done"`
	Cached       bool   `json:"cached"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// relayAnswer sends one frame per model chunk, content cumulative, then
// the done frame.
func (b *baseline) relayAnswer(ctx context.Context, socket *gws.Conn, content, replyTo string) {
	stream, err := b.model.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{
		Model:    b.opts.model,
		Stream:   true,
		Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: content}},
	})
	if err != nil {
		b.opts.log.Warn("model call failed", slog.String("error", err.Error()))
		sendError(socket, "llm_unavailable", "the model failed", replyTo)
		return
	}
	defer stream.Close()
	frame := responseFrame{Type: "response", ID: newSessionID(), ReplyTo: replyTo}
	finish := "stop"
	var text strings.Builder
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			sendError(socket, "llm_unavailable", "the model stream failed", replyTo)
			return
		}
		if len(chunk.Choices) == 0 {
			continue
		}
		ch := chunk.Choices[0]
		if ch.FinishReason != "" {
			finish = string(ch.FinishReason)
		}
		if ch.Delta.Content == "" {
			continue
		}
		text.WriteString(ch.Delta.Content)
		frame.Content, frame.Delta = text.String(), ch.Delta.Content
		send(socket, &frame)
	}
	frame.Content, frame.Delta, frame.Done, frame.FinishReason = text.String(), "", true, finish
	send(socket, &frame)
}

func sendError(socket *gws.Conn, code, message, replyTo string) {
	f := map[string]string{"type": "error", "code": code, "message": message}
	if replyTo != "" {
		f["reply_to"] = replyTo
	}
	send(socket, f)
}

func send(socket *gws.Conn, v any) {
	if b, err := json.Marshal(v); err == nil {
		_ = socket.WriteMessage(gws.OpcodeText, b)
	}
}

func newSessionID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
