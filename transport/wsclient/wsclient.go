package wsclient

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// Frame is a decoded server frame, of any type of protocol 1.1. Fields
// absent from a frame are zero.
type Frame struct {
	Type         string `json:"type"`
	SessionID    string `json:"session_id,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	ID           string `json:"id,omitempty"`
	ReplyTo      string `json:"reply_to,omitempty"`
	Content      string `json:"content,omitempty"`
	Delta        string `json:"delta,omitempty"`
	Done         bool   `json:"done,omitempty"`
	Cached       bool   `json:"cached,omitempty"`
	FinishReason string `json:"finish_reason,omitempty"`
	Code         string `json:"code,omitempty"`
	Message      string `json:"message,omitempty"`
	RetryAfter   int    `json:"retry_after,omitempty"`

	// connected (protocol 1.1)
	Protocol       string    `json:"protocol,omitempty"`
	ConversationID string    `json:"conversation_id,omitempty"` // also on history and reset
	History        int       `json:"history,omitempty"`         // messages the session starts with in memory
	Pending        []Pending `json:"pending,omitempty"`
	Notice         string    `json:"notice,omitempty"`

	// response (protocol 1.1)
	Seq     int    `json:"seq,omitempty"`
	Resumed bool   `json:"resumed,omitempty"`
	Model   string `json:"model,omitempty"` // on the done frame
	Usage   *Usage `json:"usage,omitempty"` // on the done frame, when the model reported it

	// history
	Messages []Message `json:"messages,omitempty"`
	More     bool      `json:"more,omitempty"`

	// error token_expiring and reauthenticated
	ExpiresIn int   `json:"expires_in,omitempty"` // seconds
	ExpiresAt int64 `json:"expires_at,omitempty"` // unix seconds

	Raw      []byte    `json:"-"` // the frame as received
	Received time.Time `json:"-"` // when the read loop had the whole frame, before decoding
}

// Pending is an interrupted answer listed by a connected frame.
type Pending struct {
	ID      string `json:"id"`
	ReplyTo string `json:"reply_to,omitempty"`
	Seq     int    `json:"seq"`
	Done    bool   `json:"done"`
}

// Usage is the model's token count for an answer.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Message is one message of a history frame.
type Message struct {
	ID      string    `json:"id"`
	Role    string    `json:"role"` // "user" or "assistant"
	Content string    `json:"content"`
	At      time.Time `json:"at"`                 // RFC 3339
	ReplyTo string    `json:"reply_to,omitempty"` // assistant messages
	Cached  bool      `json:"cached,omitempty"`   // assistant messages
}

// CloseError reports how the connection ended.
type CloseError struct {
	Code   int // 1006 when the connection dropped without a close frame
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("websocket closed: %d %q", e.Code, e.Reason) }

// ErrTimeout is returned by Next when no frame arrived in time.
var ErrTimeout = errors.New("wsclient: timed out waiting for a frame")

// Options configures Dial.
type Options struct {
	Header      http.Header   // extra request headers, for example Origin
	Timeout     time.Duration // handshake timeout; default 10s
	Buffer      int           // frames buffered before the reader waits; default 64
	LocalAddr   *net.TCPAddr  // source address, to spread many connections over 127.0.0.x
	Compression bool
	TLS         *tls.Config // for wss:// URLs; nil verifies against the system roots
}

// Client is one connection.
type Client struct {
	conn   *gws.Conn
	frames chan *Frame
	closed chan struct{}
	err    *CloseError
	paused sync.Mutex // held while Pause is in effect; the reader waits on it
}

// Dial opens a connection to url (ws://host:port/ws/chat, or wss://).
func Dial(url string, o Options) (*Client, *http.Response, error) {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Buffer == 0 {
		o.Buffer = 64
	}
	c := &Client{frames: make(chan *Frame, o.Buffer), closed: make(chan struct{})}
	opt := &gws.ClientOption{
		Addr:              url,
		RequestHeader:     o.Header,
		HandshakeTimeout:  o.Timeout,
		PermessageDeflate: gws.PermessageDeflate{Enabled: o.Compression},
		NewSession:        func() gws.SessionStorage { return noSession{} },
	}
	if o.TLS != nil {
		opt.TlsConfig = o.TLS.Clone() // gws fills in ServerName on it
	}
	if o.LocalAddr != nil {
		d := &net.Dialer{LocalAddr: o.LocalAddr, Timeout: o.Timeout}
		opt.NewDialer = func() (gws.Dialer, error) { return d, nil }
	}
	conn, resp, err := gws.NewClient(handler{c}, opt)
	if err != nil {
		return nil, resp, err
	}
	c.conn = conn
	go conn.ReadLoop()
	return c, resp, nil
}

// Send encodes v as JSON and sends it as a text frame.
func (c *Client) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.conn.WriteMessage(gws.OpcodeText, b)
}

// SendRaw sends b as one frame with the given opcode, unchecked.
func (c *Client) SendRaw(op gws.Opcode, b []byte) error { return c.conn.WriteMessage(op, b) }

// Authenticate sends the authenticate frame.
func (c *Client) Authenticate(token string) error {
	return c.Send(map[string]string{"type": "authenticate", "token": token})
}

// Message sends a chat message with an optional id.
func (c *Client) Message(content, id string) error {
	m := map[string]string{"type": "message", "content": content}
	if id != "" {
		m["id"] = id
	}
	return c.Send(m)
}

// History asks for a page of the conversation: limit 0 and before "" leave
// the server's defaults (the newest messages).
func (c *Client) History(limit int, before string) error {
	m := map[string]any{"type": "history"}
	if limit != 0 {
		m["limit"] = limit
	}
	if before != "" {
		m["before"] = before
	}
	return c.Send(m)
}

// Reset ends the conversation and starts another.
func (c *Client) Reset() error { return c.Send(map[string]string{"type": "reset"}) }

// ResumeAnswer asks for the interrupted answer id from after its frame
// afterSeq. (Resume is taken: it undoes Pause.)
func (c *Client) ResumeAnswer(id string, afterSeq int) error {
	return c.Send(map[string]any{"type": "resume", "id": id, "after_seq": afterSeq})
}

// Next returns the next frame, or the *CloseError that ended the
// connection once every frame before it has been read.
func (c *Client) Next(timeout time.Duration) (*Frame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f, nil
		default:
			return nil, c.err
		}
	case <-t.C:
		return nil, ErrTimeout
	}
}

// Closed waits until the connection has ended and returns how. Frames not
// yet read are discarded.
func (c *Client) Closed(timeout time.Duration) (*CloseError, error) {
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.Next(time.Until(deadline))
		var ce *CloseError
		if errors.As(err, &ce) {
			return ce, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Pause stops reading from the socket until Resume, as a client that has
// stopped reading would: the server's writes back up. For tests.
func (c *Client) Pause() { c.paused.Lock() }

// Resume undoes Pause.
func (c *Client) Resume() { c.paused.Unlock() }

// waitResume returns at once unless Pause is in effect, and then when
// Resume is called.
func (c *Client) waitResume() {
	c.paused.Lock()
	defer c.paused.Unlock()
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.closed }

// Close sends a normal close frame and releases the connection.
func (c *Client) Close() error { return c.conn.WriteClose(1000, nil) }

// CloseWithoutFrame drops the TCP connection without a close handshake.
func (c *Client) CloseWithoutFrame() error { return c.conn.NetConn().Close() }

type handler struct{ c *Client }

func (h handler) OnOpen(*gws.Conn) {}

func (h handler) OnClose(_ *gws.Conn, err error) {
	ce := &CloseError{Code: 1006}
	var ge *gws.CloseError
	if errors.As(err, &ge) {
		ce.Code, ce.Reason = int(ge.Code), string(ge.Reason)
	}
	h.c.err = ce
	close(h.c.closed)
}

func (h handler) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }
func (h handler) OnPong(*gws.Conn, []byte)     {}

// handOverWait bounds how long the read loop waits for a reader that has
// stopped reading before it drops the frame.
const handOverWait = 30 * time.Second

func (h handler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	h.c.waitResume()
	// Timed here, not when Next returns: a caller measuring latency should
	// not count the wait for its own goroutine to be scheduled.
	received := time.Now()
	raw := append([]byte(nil), m.Bytes()...)
	f := &Frame{Raw: raw, Received: received}
	if err := json.Unmarshal(raw, f); err != nil {
		f.Type = "!invalid-json"
	}
	// Most frames find room in the buffer: only a full one arms a timer.
	select {
	case h.c.frames <- f:
		return
	default:
	}
	t := time.NewTimer(handOverWait)
	defer t.Stop()
	select {
	case h.c.frames <- f:
	case <-t.C:
		// A reader that stopped reading: drop rather than hold gws's read
		// loop forever.
	}
}

type noSession struct{}

func (noSession) Len() int                           { return 0 }
func (noSession) Load(string) (any, bool)            { return nil, false }
func (noSession) Delete(string)                      {}
func (noSession) Store(string, any)                  {}
func (noSession) Range(func(key string, v any) bool) {}
