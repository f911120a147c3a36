package openai

import (
	"encoding/json"
	"testing"
)

func TestPatchBody(t *testing.T) {
	body := []byte(`{"model":"alias","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	same, err := PatchBody(body, "alias", "alias", false, false)
	if err != nil || &same[0] != &body[0] {
		t.Fatal("an unchanged body was re-encoded")
	}
	got, err := PatchBody(body, "alias", "upstream", true, false)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(got, &m)
	if m["model"] != "upstream" || m["stream_options"].(map[string]any)["include_usage"] != true || m["messages"] == nil {
		t.Fatalf("patched %s", got)
	}
	got, _ = PatchBody([]byte(`{"model":"a","stream_options":{"include_usage":false,"other":1}}`), "a", "a", true, true)
	_ = json.Unmarshal(got, &m)
	if so := m["stream_options"].(map[string]any); so["include_usage"] != true || so["other"] != float64(1) {
		t.Fatalf("merged %s", got)
	}
	if _, err := PatchBody([]byte(`{"model":"a","stream_options":5}`), "a", "a", true, true); err == nil {
		t.Fatal("bad stream_options accepted")
	}
	// Spliced without decoding when the body has no stream_options.
	for _, in := range []string{`{"model":"a","stream":true}`, ` { "model":"a" }`} {
		got, err := PatchBody([]byte(in), "a", "a", true, false)
		if err != nil || !json.Valid(got) {
			t.Fatalf("splice %q: %s %v", in, got, err)
		}
		var m map[string]any
		_ = json.Unmarshal(got, &m)
		if m["model"] != "a" || m["stream_options"].(map[string]any)["include_usage"] != true {
			t.Fatalf("splice %q: %s", in, got)
		}
	}
}

func TestContentTokens(t *testing.T) {
	chunk := []byte(`{"choices":[{"delta":{"content":"你好, \"world\""}}]}`)
	if got := contentTokens(chunk); got != 2+3 {
		t.Fatalf("contentTokens = %d", got)
	}
	if got := contentTokens([]byte(`{"choices":[{"delta":{"content":"unterminated`)); got == 0 {
		t.Fatal("unterminated content not counted")
	}
}

func FuzzContentTokens(f *testing.F) {
	f.Add([]byte(`{"content":"a\"b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := contentTokens(b); n < 0 || n > int64(len(b)) {
			t.Fatalf("contentTokens = %d for %d bytes", n, len(b))
		}
	})
}
