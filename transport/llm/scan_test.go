package llm

import (
	"encoding/json"
	"reflect"
	"testing"
)

// scanSeeds are chunks as servers send them, and the shapes scanChunk must
// hand to encoding/json.
var scanSeeds = []string{
	`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"c1","choices":[{"index":0,"delta":{"content":"Hello "},"logprobs":null,"finish_reason":null}]}`,
	`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	`{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":40,"total_tokens":52,"prompt_tokens_details":{"cached_tokens":0}}}`,
	`{"choices":[{"delta":{"content":"line\nnext \"quoted\" \u00e9 \ud83d\ude00"}}]}`,
	`{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}`,
	`{"choices":[{"delta":{"content":"a"}}],"choices":[]}`,
	`{"choices":[{"delta":{"content":"a"}}],"choices":[{"finish_reason":"stop"}]}`,
	`{"usage":{"prompt_tokens":1},"usage":null}`,
	`{"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`,
	`{"Choices":[{"delta":{"content":"x"}}]}`,
	`{"choices":[{"Delta":{"CONTENT":"x"}}]}`,
	`{"choice\u0073":[]}`,
	`{"error":{"message":"boom","type":"server_error"}}`,
	`{"error":null,"choices":[null]}`,
	`{"choices":[{"delta":null,"finish_reason":null}]}`,
	`{"choices":[1]}`,
	`{"choices":{"delta":{}}}`,
	`{"usage":{"prompt_tokens":1.5}}`,
	`{"usage":{"prompt_tokens":-0,"completion_tokens":1e2}}`,
	`{"usage":{"prompt_tokens":99999999999999999999}}`,
	`{"choices":[{"delta":{"content":"\xff"}}]}`,
	`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"x":"\x"}`,
	`{"x":01}`,
	`{"x":-}`,
	`{"x":1.}`,
	`{"x":tru}`,
	`{} {}`,
	` {"choices":[]} `,
	`null`,
	`[]`,
	``,
	`{"choices":[{"delta":{"content":"é"}}],"extra":{"a":[1,-2.5e+3,true,false,null,"s"]}}`,
}

func FuzzScanChunk(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, want chunk
		if !scanChunk(data, &got) {
			return // encoding/json decides
		}
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("scanChunk accepted %q, which encoding/json rejects: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("scanChunk(%q) = %+v, encoding/json made %+v", data, got, want)
		}
	})
}

// TestScanChunkHandlesServerChunks: the chunks servers send take the fast
// path; the fuzz test only checks what it accepts.
func TestScanChunkHandlesServerChunks(t *testing.T) {
	for _, s := range scanSeeds[:10] {
		var c chunk
		if !scanChunk([]byte(s), &c) {
			t.Errorf("scanChunk left %s to encoding/json", s)
		}
	}
}
