package llm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	openai "github.com/sashabaranov/go-openai"
)

const (
	// sseBufferSize holds a typical chunk line several times over, so
	// that a line is almost always read without a copy.
	sseBufferSize = 8 << 10
	// maxEventLine bounds one line of the stream; a longer one is a
	// broken server, not an answer.
	maxEventLine = 1 << 20
	// maxJunk bounds the lines that are not events: they are kept because
	// a server may answer an error as plain JSON inside a 200 response.
	maxJunk = 64 << 10
)

var (
	errLineTooLong = errors.New("stream line longer than 1 MiB")
	errTooMuchJunk = errors.New("more than 64 KiB of stream lines that are not events")
)

// chunk is the part of a chat.completion.chunk the stream uses. Decoding
// into it skips everything else, and the fixed array keeps the choices off
// the heap: only the first one is read.
type chunk struct {
	Choices [1]struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage           `json:"usage"`
	Error *openai.APIError `json:"error"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// eventReader reads the data events of a server-sent event stream, as
// OpenAI-compatible servers send them: "data: {json}" lines, ended by
// "data: [DONE]". Comments and the event, id and retry fields carry nothing
// a chat completion uses and are skipped.
type eventReader struct {
	r    *bufio.Reader
	long []byte // a line longer than r's buffer, assembled
	junk []byte // lines that are neither events nor blank
}

func newEventReader(body io.Reader) *eventReader {
	return &eventReader{r: bufio.NewReaderSize(body, sseBufferSize)}
}

// next returns the payload of the next data event, valid until the next
// call, or io.EOF after [DONE]. A stream that ends without [DONE] returns
// the error the server wrote in it, if it wrote one as JSON, or the read
// error (io.EOF when the body just ended).
func (e *eventReader) next() ([]byte, error) {
	for {
		line, err := e.line()
		if err != nil {
			if len(line) > 0 && !bytes.HasPrefix(line, []byte("data:")) {
				_ = e.keep(line)
			}
			if apiErr := e.junkError(); apiErr != nil {
				return nil, fmt.Errorf("error, %w", apiErr)
			}
			return nil, err
		}
		switch {
		case len(line) == 0, line[0] == ':':
			continue
		case bytes.HasPrefix(line, []byte("data:")):
			data := bytes.TrimLeft(line[len("data:"):], " \t")
			switch string(data) {
			case "":
				continue // carries nothing
			case "[DONE]":
				return nil, io.EOF
			}
			return data, nil
		case bytes.HasPrefix(line, []byte("event:")), bytes.HasPrefix(line, []byte("id:")),
			bytes.HasPrefix(line, []byte("retry:")):
			continue
		}
		if err := e.keep(line); err != nil {
			return nil, err
		}
	}
}

// line reads one line without its surrounding space.
func (e *eventReader) line() ([]byte, error) {
	line, err := e.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		e.long = append(e.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(e.long) > maxEventLine {
				return nil, errLineTooLong
			}
			line, err = e.r.ReadSlice('\n')
			e.long = append(e.long, line...)
		}
		line = e.long
	}
	return bytes.TrimSpace(line), err
}

func (e *eventReader) keep(line []byte) error {
	if len(e.junk)+len(line) > maxJunk {
		return errTooMuchJunk
	}
	e.junk = append(e.junk, line...)
	return nil
}

// junkError decodes the lines that were not events as an error body.
func (e *eventReader) junkError() *openai.APIError {
	if len(e.junk) == 0 {
		return nil
	}
	var body struct {
		Error *openai.APIError `json:"error"`
	}
	if json.Unmarshal(e.junk, &body) != nil {
		return nil
	}
	return body.Error
}

// chunkDecoder decodes the data events of one stream. It keeps one
// json.Decoder for them all: json.Unmarshal starts each call with a new
// decoder state and allocates its scanner stack and error context again,
// eight allocations for every streamed token.
type chunkDecoder struct {
	in  payload
	dec *json.Decoder
}

func newChunkDecoder() *chunkDecoder {
	d := &chunkDecoder{}
	d.dec = json.NewDecoder(&d.in)
	return d
}

// decode decodes one data event into c. An error event comes back as the
// error, wrapped the way a failed stream's is. After an error the decoder
// must not be used again.
func (d *chunkDecoder) decode(data []byte, c *chunk) error {
	*c = chunk{}
	if scanChunk(data, c) {
		return nil
	}
	*c = chunk{}
	d.in.b = data
	start := d.dec.InputOffset()
	if err := d.dec.Decode(c); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			// Not a network failure: the line arrived whole.
			return errors.New("decode stream chunk: JSON value cut short")
		}
		return fmt.Errorf("decode stream chunk: %w", err)
	}
	// The payload is one trimmed line: anything after its value would
	// otherwise be read as the start of the next event.
	if d.dec.InputOffset()-start != int64(len(data)) {
		return errors.New("decode stream chunk: data after the JSON value")
	}
	if c.Error != nil {
		return fmt.Errorf("error, %w", c.Error)
	}
	return nil
}

// payload reads one event's data and then reports its end.
type payload struct{ b []byte }

func (p *payload) Read(dst []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(dst, p.b)
	p.b = p.b[n:]
	return n, nil
}

// maxErrorBody bounds what is read of a failed response.
const maxErrorBody = 1 << 20

// responseError reads a failed response's body into the error go-openai
// would return for it: an *openai.APIError when the body is an OpenAI
// error object, an *openai.RequestError otherwise.
func responseError(status int, statusText string, body io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(body, maxErrorBody))
	if err != nil {
		return &openai.RequestError{HTTPStatus: statusText, HTTPStatusCode: status,
			Err: fmt.Errorf("read error body: %w", err)}
	}
	var res struct {
		Error *openai.APIError `json:"error"`
	}
	err = json.Unmarshal(b, &res)
	if err != nil || res.Error == nil {
		return &openai.RequestError{HTTPStatus: statusText, HTTPStatusCode: status, Err: err, Body: b}
	}
	res.Error.HTTPStatus, res.Error.HTTPStatusCode = statusText, status
	return res.Error
}
