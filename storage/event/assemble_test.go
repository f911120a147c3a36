package event

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// decodedText is what a full decode of a chunk assembles: the oracle the
// scanner is held to.
func decodedText(chunk []byte) (string, bool) {
	var ch struct {
		Choices []struct {
			Text  string `json:"text"`
			Delta struct {
				Content   string `json:"content"`
				Reasoning string `json:"reasoning_content"`
				ToolCalls []struct {
					Function struct {
						Name      string `json:"name"`
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if json.Unmarshal(chunk, &ch) != nil {
		return "", false
	}
	var out string
	for _, c := range ch.Choices {
		out += c.Delta.Reasoning + c.Delta.Content + c.Text
		for _, tc := range c.Delta.ToolCalls {
			if tc.Function.Name != "" {
				out += "\n[tool call " + tc.Function.Name + "] "
			}
			out += tc.Function.Arguments
		}
	}
	return out, true
}

var streamChunks = []string{
	`{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
	`{"id":"c1","choices":[{"index":0,"delta":{"content":"Hello, \"world\"\n\u4e16\u754c \ud83d\ude00 a\\b\/c"},"finish_reason":null}]}`,
	`{"id":"c1","choices":[{"index":0,"delta":{"reasoning_content":"thinking…"}}]}`,
	`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}`,
	`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Hangzhou\"}"}}]}}]}`,
	`{"id":"c1","choices":[{"index":0,"text":"completion text","finish_reason":null}]}`,
	`{"id":"c1", "choices": [ {"index": 0, "delta": {"content" : "spaced"} } ]}`,
	`{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":5}}`,
	`{"id":"c1","choices":[{"index":0,"delta":{"content":null},"logprobs":{"content":[{"token":"a","logprob":-1}]}}]}`,
}

func TestStreamTextMatchesAFullDecode(t *testing.T) {
	for _, c := range streamChunks {
		want, _ := decodedText([]byte(c))
		if got := string(AppendStreamText(nil, []byte(c))); got != want {
			t.Errorf("%s:\n got %q\nwant %q", c, got, want)
		}
	}
	if got := string(AppendStreamText([]byte("ab"), []byte(`{"choices":[{"delta":{"content":"c`))); got != "ab" {
		t.Errorf("a chunk cut inside a value added %q", got)
	}
}

func FuzzAppendStreamText(f *testing.F) {
	for _, c := range streamChunks {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, chunk []byte) {
		got := AppendStreamText(nil, chunk)
		if utf8.Valid(chunk) && !utf8.Valid(got) {
			t.Fatalf("valid UTF-8 in, invalid out: %q", got)
		}
	})
}
