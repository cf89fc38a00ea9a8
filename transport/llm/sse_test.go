package llm

import (
	"errors"
	"io"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"
)

func TestEventReader(t *testing.T) {
	long := strings.Repeat("x", 3*sseBufferSize)
	tests := []struct {
		name    string
		body    string
		want    []string // payloads before the end
		wantErr error    // io.EOF: [DONE]
		apiMsg  string   // the end is this server error
	}{
		{
			name:    "events then done",
			body:    "data: {\"a\":1}\n\ndata:{\"b\":2}\n\ndata: [DONE]\n\n",
			want:    []string{`{"a":1}`, `{"b":2}`},
			wantErr: io.EOF,
		},
		{
			name:    "CRLF, comments, empty events and other fields skipped",
			body:    ": keep-alive\r\ndata:\r\nevent: message\r\nid: 7\r\nretry: 1000\r\ndata: {\"a\":1}\r\n\r\ndata: [DONE]\r\n",
			want:    []string{`{"a":1}`},
			wantErr: io.EOF,
		},
		{
			name:    "line longer than the buffer",
			body:    "data: {\"c\":\"" + long + "\"}\n\ndata: [DONE]\n",
			want:    []string{`{"c":"` + long + `"}`},
			wantErr: io.EOF,
		},
		{
			name:    "body ends without done",
			body:    "data: {\"a\":1}\n\n",
			want:    []string{`{"a":1}`},
			wantErr: io.EOF,
		},
		{
			name:    "partial last event is dropped",
			body:    "data: {\"a\":1}\n\ndata: {\"a\"",
			want:    []string{`{"a":1}`},
			wantErr: io.EOF,
		},
		{
			name:   "plain JSON error in a 200 response",
			body:   "{\"error\": {\n\"message\": \"overloaded\",\n\"type\": \"server_error\"}}\n",
			apiMsg: "overloaded",
		},
		{
			name:   "plain JSON error without a final newline",
			body:   `{"error":{"message":"overloaded"}}`,
			apiMsg: "overloaded",
		},
		{
			name:    "junk that is not an error",
			body:    "hello\nworld\n",
			wantErr: io.EOF,
		},
		{
			name:    "too much junk",
			body:    strings.Repeat("junk line\n", maxJunk/8),
			wantErr: errTooMuchJunk,
		},
		{
			name:    "line over the limit",
			body:    "data: " + strings.Repeat("y", maxEventLine+sseBufferSize) + "\n",
			wantErr: errLineTooLong,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newEventReader(strings.NewReader(tt.body))
			var got []string
			var err error
			for {
				var data []byte
				data, err = r.next()
				if err != nil {
					break
				}
				got = append(got, string(data))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("payloads = %.80q, want %.80q", got, tt.want)
			}
			if tt.apiMsg != "" {
				var apiErr *openai.APIError
				if !errors.As(err, &apiErr) || apiErr.Message != tt.apiMsg {
					t.Fatalf("err = %v, want API error %q", err, tt.apiMsg)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeChunk(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		delta      string
		finish     string
		completion int // usage; -1: none
		apiMsg     string
		bad        bool
	}{
		{
			name:       "content",
			data:       `{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi \u00e9"},"finish_reason":null}]}`,
			delta:      "Hi é",
			completion: -1,
		},
		{
			name:       "finish",
			data:       `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
			finish:     "stop",
			completion: -1,
		},
		{
			name:       "usage without choices",
			data:       `{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":40,"total_tokens":52}}`,
			completion: 40,
		},
		{
			name:       "only the first choice is read",
			data:       `{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}`,
			delta:      "a",
			completion: -1,
		},
		{name: "error event", data: `{"error":{"message":"model crashed","type":"server_error"}}`, apiMsg: "model crashed"},
		{name: "not JSON", data: `{"choices":`, bad: true},
		{name: "two values", data: `{"choices":[]} {"choices":[]}`, bad: true},
		{name: "wrong type", data: `{"choices":[{"delta":{"content":7}}]}`, bad: true},
	}
	var c chunk
	// Decode into one chunk with one decoder throughout, as the stream
	// does: nothing may leak from one event into the next.
	d := newChunkDecoder()
	if err := d.decode([]byte(`{"choices":[{"delta":{"content":"stale"},"finish_reason":"length"}],"usage":{"completion_tokens":9}}`), &c); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := d
			if tt.bad {
				// An error ends a stream and its decoder.
				dec = newChunkDecoder()
			}
			err := dec.decode([]byte(tt.data), &c)
			switch {
			case tt.apiMsg != "":
				var apiErr *openai.APIError
				if !errors.As(err, &apiErr) || apiErr.Message != tt.apiMsg {
					t.Fatalf("err = %v, want API error %q", err, tt.apiMsg)
				}
				return
			case tt.bad:
				if err == nil {
					t.Fatal("bad JSON decoded without error")
				}
				if errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("err = %v: reads as a network failure", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			ch := c.Choices[0]
			if ch.Delta.Content != tt.delta || ch.FinishReason != tt.finish {
				t.Errorf("delta %q finish %q, want %q %q", ch.Delta.Content, ch.FinishReason, tt.delta, tt.finish)
			}
			switch {
			case tt.completion < 0 && c.Usage != nil:
				t.Errorf("usage = %+v, want none", *c.Usage)
			case tt.completion >= 0 && (c.Usage == nil || c.Usage.CompletionTokens != tt.completion):
				t.Errorf("usage = %+v, want %d completion tokens", c.Usage, tt.completion)
			}
		})
	}
}

func TestResponseError(t *testing.T) {
	err := responseError(429, "429 Too Many Requests", strings.NewReader(`{"error":{"message":"slow down","type":"rate_limit","code":"rate_limit_exceeded"}}`))
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 429 || apiErr.Message != "slow down" {
		t.Errorf("OpenAI error body: err = %#v", err)
	}
	err = responseError(502, "502 Bad Gateway", strings.NewReader("<html>bad gateway</html>"))
	var reqErr *openai.RequestError
	if !errors.As(err, &reqErr) || reqErr.HTTPStatusCode != 502 || string(reqErr.Body) != "<html>bad gateway</html>" {
		t.Errorf("HTML body: err = %#v", err)
	}
}
