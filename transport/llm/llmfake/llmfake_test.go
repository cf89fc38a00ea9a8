package llmfake_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

func start(t testing.TB, o llmfake.Options) (*llmfake.Server, *httptest.Server) {
	t.Helper()
	fake := llmfake.New(o)
	ts := httptest.NewServer(fake)
	t.Cleanup(func() {
		fake.Close()
		ts.Close()
	})
	return fake, ts
}

func post(t testing.TB, url, body string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// events reads the data fields of a server-sent event stream.
func events(t testing.TB, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q is not a data field", line)
		}
		out = append(out, data)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	return out
}

type wireChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func TestStreamFormat(t *testing.T) {
	tests := []struct {
		name         string
		includeUsage bool
		maxTokens    int
		wantTokens   int
		wantFinish   string
	}{
		{name: "with usage", includeUsage: true, wantTokens: 12, wantFinish: "stop"},
		{name: "without usage", wantTokens: 12, wantFinish: "stop"},
		{name: "cut by max_tokens", includeUsage: true, maxTokens: 5, wantTokens: 5, wantFinish: "length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, ts := start(t, llmfake.Options{Tokens: 12, Model: "fake-model"})
			body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hi"}]`
			if tt.includeUsage {
				body += `,"stream_options":{"include_usage":true}`
			}
			if tt.maxTokens > 0 {
				body += `,"max_tokens":` + strconv.Itoa(tt.maxTokens)
			}
			resp := post(t, ts.URL, body+"}", nil)
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
			}
			evs := events(t, resp.Body)
			if evs[len(evs)-1] != "[DONE]" {
				t.Fatalf("last event %q, want [DONE]", evs[len(evs)-1])
			}
			chunks := decodeChunks(t, evs[:len(evs)-1], tt.includeUsage)
			checkChunks(t, chunks, tt.includeUsage, tt.wantTokens, tt.wantFinish)
			var text strings.Builder
			for _, c := range chunks {
				if len(c.Choices) > 0 && c.Choices[0].Delta.Content != nil {
					text.WriteString(*c.Choices[0].Delta.Content)
				}
			}
			full := fake.Answer([]actors.ModelMessage{{Role: "user", Content: "Hi"}})
			if !strings.HasPrefix(full, text.String()) || (tt.maxTokens == 0 && text.String() != full) {
				t.Errorf("text %q is not the answer %q", text.String(), full)
			}
		})
	}
}

func decodeChunks(t *testing.T, evs []string, includeUsage bool) []wireChunk {
	t.Helper()
	chunks := make([]wireChunk, len(evs))
	for i, ev := range evs {
		if err := json.Unmarshal([]byte(ev), &chunks[i]); err != nil {
			t.Fatalf("event %d %q: %v", i, ev, err)
		}
		c := chunks[i]
		if c.Object != "chat.completion.chunk" || c.Model != "fake-model" || c.ID != chunks[0].ID || c.Created == 0 {
			t.Fatalf("event %d has bad envelope: %s", i, ev)
		}
		if strings.Contains(ev, `"usage":`) != includeUsage {
			t.Fatalf("event %d: usage field presence should be %v: %s", i, includeUsage, ev)
		}
	}
	return chunks
}

// checkChunks checks the sequence: role, tokens, finish, optional usage.
func checkChunks(t *testing.T, chunks []wireChunk, includeUsage bool, tokens int, finish string) {
	t.Helper()
	want := tokens + 2 // role chunk, tokens, finish chunk
	if includeUsage {
		want++
	}
	if len(chunks) != want {
		t.Fatalf("got %d chunks, want %d", len(chunks), want)
	}
	if r := chunks[0].Choices[0].Delta.Role; r == nil || *r != "assistant" {
		t.Errorf("first chunk has no assistant role")
	}
	for i, c := range chunks[1 : tokens+1] {
		if len(c.Choices) != 1 || c.Choices[0].FinishReason != nil || c.Choices[0].Delta.Content == nil {
			t.Errorf("token chunk %d malformed: %+v", i, c)
		}
	}
	last := chunks[tokens+1]
	if len(last.Choices) != 1 || last.Choices[0].FinishReason == nil || *last.Choices[0].FinishReason != finish {
		t.Errorf("finish chunk = %+v, want finish_reason %q", last, finish)
	}
	if includeUsage {
		u := chunks[tokens+2]
		if len(u.Choices) != 0 || u.Usage == nil || u.Usage.CompletionTokens != tokens ||
			u.Usage.TotalTokens != u.Usage.PromptTokens+tokens {
			t.Errorf("usage chunk = %+v", u)
		}
	}
}

func TestNonStreaming(t *testing.T) {
	fake, ts := start(t, llmfake.Options{})
	cfg := openai.DefaultConfig("")
	cfg.BaseURL = ts.URL + "/v1"
	c := openai.NewClientWithConfig(cfg)
	msgs := []actors.ModelMessage{{Role: "user", Content: "How do I budget?"}}

	resp, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: msgs[0].Content}},
	})
	if err != nil {
		t.Fatalf("CreateChatCompletion: %v", err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != fake.Answer(msgs) ||
		resp.Choices[0].FinishReason != openai.FinishReasonStop || resp.Choices[0].Message.Role != "assistant" {
		t.Errorf("response = %+v", resp)
	}
	if resp.Usage.CompletionTokens != 40 || resp.Model != "gpt-4o-mini" || resp.Object != "chat.completion" {
		t.Errorf("usage %+v, model %q, object %q", resp.Usage, resp.Model, resp.Object)
	}
}

func TestModels(t *testing.T) {
	_, ts := start(t, llmfake.Options{Model: "coach-fake"})
	cfg := openai.DefaultConfig("")
	cfg.BaseURL = ts.URL + "/v1"
	list, err := openai.NewClientWithConfig(cfg).ListModels(context.Background())
	if err != nil {
		t.Fatalf("ListModels: %v", err)
	}
	if len(list.Models) != 1 || list.Models[0].ID != "coach-fake" {
		t.Errorf("models = %+v", list.Models)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		opts       llmfake.Options
		failure    *llmfake.Failure
		body       string
		header     http.Header
		wantStatus int
		wantType   string
		wantAfter  string
	}{
		{
			name:       "missing key",
			opts:       llmfake.Options{APIKey: "sk-1"},
			body:       `{"messages":[{"role":"user","content":"x"}]}`,
			wantStatus: 401,
			wantType:   "invalid_request_error",
		},
		{
			name:       "wrong key",
			opts:       llmfake.Options{APIKey: "sk-1"},
			header:     http.Header{"Authorization": {"Bearer sk-2"}},
			body:       `{"messages":[{"role":"user","content":"x"}]}`,
			wantStatus: 401,
			wantType:   "invalid_request_error",
		},
		{
			name:       "right key",
			opts:       llmfake.Options{APIKey: "sk-1"},
			header:     http.Header{"Authorization": {"Bearer sk-1"}},
			body:       `{"messages":[{"role":"user","content":"x"}]}`,
			wantStatus: 200,
		},
		{
			name:       "not JSON",
			body:       `{"messages":`,
			wantStatus: 400,
			wantType:   "invalid_request_error",
		},
		{
			name:       "no messages",
			body:       `{"model":"m","messages":[]}`,
			wantStatus: 400,
			wantType:   "invalid_request_error",
		},
		{
			name:       "queued 429",
			failure:    &llmfake.Failure{Status: 429, RetryAfter: 1500 * time.Millisecond},
			body:       `{"messages":[{"role":"user","content":"x"}]}`,
			wantStatus: 429,
			wantType:   "rate_limit_exceeded",
			wantAfter:  "2",
		},
		{
			name:       "random failure",
			opts:       llmfake.Options{FailRate: 1, FailStatus: 503},
			body:       `{"messages":[{"role":"user","content":"x"}]}`,
			wantStatus: 503,
			wantType:   "server_error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, ts := start(t, tt.opts)
			if tt.failure != nil {
				fake.FailNext(*tt.failure)
			}
			resp := post(t, ts.URL, tt.body, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.wantAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantAfter)
			}
			if tt.wantType == "" {
				return
			}
			var e struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Type != tt.wantType || e.Error.Message == "" {
				t.Errorf("error body = %+v, %v; want type %q", e, err, tt.wantType)
			}
		})
	}
}

func TestDeterministicAnswers(t *testing.T) {
	fake := llmfake.New(llmfake.Options{})
	a := fake.Answer([]actors.ModelMessage{{Role: "user", Content: "budget"}})
	b := fake.Answer([]actors.ModelMessage{{Role: "system", Content: "x"}, {Role: "user", Content: "budget"}})
	c := fake.Answer([]actors.ModelMessage{{Role: "user", Content: "debt"}})
	if a != b {
		t.Errorf("same last user message, different answers: %q, %q", a, b)
	}
	if a == c {
		t.Errorf("different messages, same answer %q", a)
	}
	if n := len(strings.Fields(a)); n != 40 {
		t.Errorf("answer has %d words, want 40", n)
	}
	if !strings.HasSuffix(a, ".") {
		t.Errorf("answer %q does not end a sentence", a)
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	fake, ts := start(t, llmfake.Options{MaxRecorded: 2})
	for _, msg := range []string{"one", "two", "three"} {
		resp := post(t, ts.URL, `{"model":"m","max_tokens":3,"messages":[{"role":"system","content":"sys"},`+
			`{"role":"user","content":[{"type":"text","text":"`+msg+`"}]}]}`, nil)
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	recs := fake.Requests()
	if fake.RequestCount() != 3 || len(recs) != 2 {
		t.Fatalf("count %d, recorded %d; want 3, 2", fake.RequestCount(), len(recs))
	}
	if recs[0].Messages[1].Content != "two" || recs[1].Messages[1].Content != "three" ||
		recs[1].Model != "m" || recs[1].MaxTokens != 3 || recs[1].Stream {
		t.Errorf("recorded = %+v", recs)
	}
}

// TestCloseReleasesHangingStreams checks that Close ends a stalled stream
// without counting it as cancelled by its client.
func TestCloseReleasesHangingStreams(t *testing.T) {
	fake, ts := start(t, llmfake.Options{})
	fake.FailNext(llmfake.Failure{Hang: true})
	resp := post(t, ts.URL, `{"stream":true,"messages":[{"role":"user","content":"x"}]}`, nil)
	testutil.WaitFor(t, 2*time.Second, "the stream to start", func() bool { return fake.Active() == 1 })
	fake.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := fake.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if n := fake.Cancelled(); n != 0 {
		t.Errorf("Cancelled = %d, want 0", n)
	}
	if resp := post(t, ts.URL, `{"messages":[{"role":"user","content":"x"}]}`, nil); resp.StatusCode != 503 {
		t.Errorf("status after Close = %d, want 503", resp.StatusCode)
	}
}

func TestCutDropsConnection(t *testing.T) {
	fake, ts := start(t, llmfake.Options{})
	fake.FailNext(llmfake.Failure{CutAfter: 2})
	resp := post(t, ts.URL, `{"stream":true,"messages":[{"role":"user","content":"x"}]}`, nil)
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read error = %v, want io.ErrUnexpectedEOF", err)
	}
	if n := strings.Count(string(body), `"content":`); n != 3 { // role chunk + 2 tokens
		t.Errorf("got %d chunks with content before the cut, want 3:\n%s", n, body)
	}
}

// TestManyConcurrentStreams streams to many clients at once; with -race it
// doubles as a check of the server's shared state.
func TestManyConcurrentStreams(t *testing.T) {
	fake, ts := start(t, llmfake.Options{Tokens: 20, TokenDelay: time.Millisecond})
	tr := &http.Transport{MaxIdleConnsPerHost: 200}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			body := `{"stream":true,"messages":[{"role":"user","content":"q` + strconv.Itoa(i) + `"}]}`
			resp, err := client.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil && !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
				err = errors.New("stream did not end with [DONE]")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if fake.RequestCount() != n || fake.Active() != 0 {
		t.Errorf("count %d, active %d", fake.RequestCount(), fake.Active())
	}
}

// BenchmarkServeStream measures the server side of one 40-token stream,
// without the network.
func BenchmarkServeStream(b *testing.B) {
	fake := llmfake.New(llmfake.Options{MaxRecorded: -1})
	body := `{"model":"m","stream":true,"stream_options":{"include_usage":true},` +
		`"messages":[{"role":"system","content":"You are a coach."},{"role":"user","content":"How do I invest?"}]}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		w := httptest.NewRecorder()
		fake.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
