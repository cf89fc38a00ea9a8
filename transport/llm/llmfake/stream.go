package llmfake

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

const fingerprint = "fp_llmfake"

// encoder builds server-sent events in OpenAI's chunk format. head, the
// part every chunk of a response shares, is built once per response; a
// token chunk is then head, a pre-quoted word and constant text.
type encoder struct {
	head []byte // data: {"id":...,"system_fingerprint":...,"choices":
	tail string // ,"usage":null}\n\n when usage was asked for, else }\n\n
	buf  []byte
}

var encoders = sync.Pool{New: func() any { return new(encoder) }}

func (e *encoder) reset(id, model string, created int64, includeUsage bool) {
	h := append(e.head[:0], `data: {"id":`...)
	h = strconv.AppendQuote(h, id)
	h = append(h, `,"object":"chat.completion.chunk","created":`...)
	h = strconv.AppendInt(h, created, 10)
	h = append(h, `,"model":`...)
	h = strconv.AppendQuote(h, model)
	h = append(h, `,"system_fingerprint":"`+fingerprint+`","choices":`...)
	e.head = h
	e.tail = "}\n\n"
	if includeUsage {
		e.tail = `,"usage":null}` + "\n\n"
	}
	e.buf = e.buf[:0]
}

func (e *encoder) role() {
	e.buf = append(e.buf, e.head...)
	e.buf = append(e.buf, `[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]`...)
	e.buf = append(e.buf, e.tail...)
}

func (e *encoder) token(quoted []byte) {
	e.buf = append(e.buf, e.head...)
	e.buf = append(e.buf, `[{"index":0,"delta":{"content":`...)
	e.buf = append(e.buf, quoted...)
	e.buf = append(e.buf, `},"logprobs":null,"finish_reason":null}]`...)
	e.buf = append(e.buf, e.tail...)
}

func (e *encoder) finish(reason string) {
	e.buf = append(e.buf, e.head...)
	e.buf = append(e.buf, `[{"index":0,"delta":{},"logprobs":null,"finish_reason":`...)
	e.buf = strconv.AppendQuote(e.buf, reason)
	e.buf = append(e.buf, `}]`...)
	e.buf = append(e.buf, e.tail...)
}

func (e *encoder) usage(prompt, completion int) {
	e.buf = append(e.buf, e.head...)
	e.buf = append(e.buf, `[],"usage":{"prompt_tokens":`...)
	e.buf = strconv.AppendInt(e.buf, int64(prompt), 10)
	e.buf = append(e.buf, `,"completion_tokens":`...)
	e.buf = strconv.AppendInt(e.buf, int64(completion), 10)
	e.buf = append(e.buf, `,"total_tokens":`...)
	e.buf = strconv.AppendInt(e.buf, int64(prompt+completion), 10)
	e.buf = append(e.buf, `,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},`+
		`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,`+
		`"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`+"\n\n"...)
}

func (e *encoder) errorEvent() {
	e.buf = append(e.buf, `data: {"error":{"message":"Injected failure.","type":"server_error","param":null,"code":null}}`+"\n\n"...)
}

func (e *encoder) done() { e.buf = append(e.buf, "data: [DONE]\n\n"...) }

// flushTo writes the pending events and pushes them onto the wire.
func (e *encoder) flushTo(w http.ResponseWriter, fl http.Flusher) bool {
	_, err := w.Write(e.buf)
	e.buf = e.buf[:0]
	if err != nil {
		return false
	}
	if fl != nil {
		fl.Flush()
	}
	return true
}

func (s *Server) newID() string {
	return "chatcmpl-fake" + strconv.FormatUint(s.ids.Add(1), 36)
}

// serveStream answers a request with stream: true.
func (s *Server) serveStream(w http.ResponseWriter, c *call) {
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	e.reset(s.newID(), c.model, time.Now().Unix(), c.includeUsage)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}

	send := c.emit
	if c.failure != nil {
		send = min(c.failure.CutAfter, c.emit)
	}
	a := s.newAnswer(lastUserMessage(c.msgs))
	for i := range send {
		d := s.opts.TokenDelay
		if i == 0 {
			d = s.opts.FirstTokenDelay
			e.role()
		}
		if !s.pause(c, d) {
			s.noteGone()
			return
		}
		_, quoted := a.next()
		e.token(quoted)
		if !e.flushTo(w, fl) {
			s.noteGone()
			return
		}
	}
	if c.failure != nil {
		s.failStream(w, fl, e, c)
		return
	}
	e.finish(c.finish)
	if c.includeUsage {
		e.usage(estimateTokens(c.msgs), c.emit)
	}
	e.done()
	if !e.flushTo(w, fl) {
		s.noteGone()
	}
}

// failStream ends a stream the way c.failure asks, after its tokens.
func (s *Server) failStream(w http.ResponseWriter, fl http.Flusher, e *encoder, c *call) {
	switch f := c.failure; {
	case f.Hang:
		s.hang(c)
	case f.ErrorChunk:
		e.buf = e.buf[:0]
		e.errorEvent()
		if !e.flushTo(w, fl) {
			s.noteGone()
		}
	default:
		// Leaves the chunked body unterminated: the client sees the
		// connection drop mid-stream.
		panic(http.ErrAbortHandler)
	}
}
