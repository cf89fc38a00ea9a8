package store_test

import (
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
)

// The hashed encoding is the documented one (README, "Every answer is
// audited"): the golden line was checked against an independent RFC 8785
// encoder (Python's json.dumps with sort_keys, compact separators and
// ensure_ascii=False) and its hash against sha256 of that encoding.
func TestAuditCanonicalEncoding(t *testing.T) {
	r := store.AuditRecord{AnswerID: "a<&>1", Question: "q\b\f\n\r\t\x01\x1f\u2028 \"\\ é 😀", Answer: "x",
		At: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), PrevHash: store.GenesisHash,
		Usage: &store.AuditUsage{PromptTokens: 1, CompletionTokens: 2}}
	r.Hash = r.ComputeHash()
	const want = `{"answer":"x","answer_id":"a<&>1","at":"2026-01-02T03:04:05.123456Z","cached":false,"conversation_id":"","finish_reason":"","hash":"556789a3932f245346db33f8e6d4d5d2c3bfd326f026d27337e4626c3a9686be","history_sha256":"","model":"","node_id":"","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","prompt_version":"","provider":"","question":"q\b\f\n\r\t\u0001\u001f  \"\\ é 😀","session_id":"","system_prompt_sha256":"","ttft_ms":0,"usage":{"completion_tokens":2,"prompt_tokens":1},"user_id":""}`
	if got := string(r.ExportJSON()); got != want {
		t.Errorf("export line\n got %s\nwant %s", got, want)
	}
	const wantHash = "556789a3932f245346db33f8e6d4d5d2c3bfd326f026d27337e4626c3a9686be"
	if r.Hash != wantHash {
		t.Errorf("hash %s, want %s", r.Hash, wantHash)
	}
}
