package anthropic

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tensorgate/tensorgate/gateway/provider"
)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTranslateRequest(t *testing.T) {
	in := `{
	  "model": "claude-alias",
	  "messages": [
	    {"role": "system", "content": "Be brief."},
	    {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
	    {"role": "user", "content": [
	      {"type": "text", "text": "What is in this image, and the weather?"},
	      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
	      {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
	    ]},
	    {"role": "assistant", "content": null, "tool_calls": [
	      {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
	      {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}}
	    ]},
	    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
	    {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
	    {"role": "user", "content": "Thanks"}
	  ],
	  "max_completion_tokens": 300,
	  "temperature": 1.5,
	  "stop": "END",
	  "user": "u-42",
	  "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather by city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
	            {"type": "function", "function": {"name": "time"}}],
	  "tool_choice": "required",
	  "parallel_tool_calls": false
	}`
	got, err := translateRequest([]byte(in), "claude-upstream")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"claude-upstream","system":"Be brief.\n\nUse metric units.","messages":[` +
		`{"role":"user","content":[{"type":"text","text":"What is in this image, and the weather?"},` +
		`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},` +
		`{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"weather","input":{"city":"Paris"}},{"type":"tool_use","id":"call_2","name":"time","input":{}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":[{"type":"text","text":"18C"}]},{"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"noon"}]},{"type":"text","text":"Thanks"}]}],` +
		`"max_tokens":300,"temperature":1,"stop_sequences":["END"],` +
		`"tools":[{"name":"weather","description":"Weather by city","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},{"name":"time","input_schema":{"type":"object","properties":{}}}],` +
		`"tool_choice":{"type":"any","disable_parallel_tool_use":true},"metadata":{"user_id":"u-42"}}`
	if diff := cmp.Diff(want, mustJSON(t, got)); diff != "" {
		t.Fatalf("translation (-want +got):\n%s", diff)
	}
}

func TestTranslateRequestDefaultsAndChoices(t *testing.T) {
	got, err := translateRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":10,"tool_choice":{"type":"function","function":{"name":"f"}},"tools":[{"type":"function","function":{"name":"f"}}]}`), "m")
	if err != nil || got.MaxTokens != 10 || got.ToolChoice.Type != "tool" || got.ToolChoice.Name != "f" {
		t.Fatalf("%+v %v", got, err)
	}
	got, err = translateRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":["a","b"],"tool_choice":"none"}`), "m")
	if err != nil || got.MaxTokens != DefaultMaxTokens || len(got.StopSequences) != 2 || got.ToolChoice != nil {
		t.Fatalf("%+v %v", got, err)
	}
	for name, body := range map[string]string{
		"bad role":        `{"messages":[{"role":"robot","content":"x"}]}`,
		"only system":     `{"messages":[{"role":"system","content":"x"}]}`,
		"bad image":       `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`,
		"bad data url":    `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,xyz"}}]}]}`,
		"bad part":        `{"messages":[{"role":"user","content":[{"type":"audio"}]}]}`,
		"bad args":        `{"messages":[{"role":"assistant","tool_calls":[{"id":"1","function":{"name":"f","arguments":"{nope"}}]}]}`,
		"bad stop":        `{"messages":[{"role":"user","content":"x"}],"stop":5}`,
		"bad choice":      `{"messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}`,
		"zero max":        `{"messages":[{"role":"user","content":"x"}],"max_tokens":0}`,
		"image in system": `{"messages":[{"role":"system","content":[{"type":"image_url"}]},{"role":"user","content":"x"}]}`,
	} {
		_, err := translateRequest([]byte(body), "m")
		var re *requestError
		if !errors.As(err, &re) {
			t.Errorf("%s: got %v, want a request error", name, err)
		}
	}
}

func TestTranslateResponse(t *testing.T) {
	var mr msgResponse
	_ = json.Unmarshal([]byte(`{"id":"msg_1","model":"claude-x","stop_reason":"tool_use",
	  "content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris"}}],
	  "usage":{"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":3,"cache_read_input_tokens":20}}`), &mr)
	cc, u := translateResponse(&mr, 1700000000)
	want := `{"id":"msg_1","object":"chat.completion","created":1700000000,"model":"claude-x","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"Checking.","reasoning_content":"hmm","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
		`"finish_reason":"tool_calls","logprobs":null}],"usage":{"prompt_tokens":33,"completion_tokens":5,"total_tokens":38,"prompt_tokens_details":{"cached_tokens":20}}}`
	if diff := cmp.Diff(want, mustJSON(t, cc)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if u.PromptTokens != 33 || u.CachedTokens != 20 {
		t.Fatalf("usage %+v", u)
	}
	for stop, want := range map[string]string{"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter", "pause_turn": "stop"} {
		if got := finishReason(stop); got != want {
			t.Errorf("finishReason(%s) = %s, want %s", stop, got, want)
		}
	}
}

func TestStreamTranslation(t *testing.T) {
	events := []string{
		`{"type":"message_start","message":{"id":"msg_1","model":"claude-x","usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":4}}}`,
		`{"type":"ping"}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"weather","input":{}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":7}}`,
		`{"type":"message_stop"}`,
	}
	tr := newTranslator("claude-alias", 1700000000)
	var got []string
	for _, ev := range events {
		chunks, err := tr.event("p", []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			got = append(got, string(c))
		}
	}
	head := `{"id":"msg_1","object":"chat.completion.chunk","created":1700000000,"model":"claude-x","choices":[{"index":0,"delta":`
	want := []string{
		head + `{"role":"assistant","content":""},"finish_reason":null,"logprobs":null}]}`,
		head + `{"content":"Hi"},"finish_reason":null,"logprobs":null}]}`,
		head + `{"tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"weather","arguments":""}}]},"finish_reason":null,"logprobs":null}]}`,
		head + `{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null,"logprobs":null}]}`,
		head + `{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null,"logprobs":null}]}`,
		head + `{},"finish_reason":"tool_calls","logprobs":null}]}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("chunks (-want +got):\n%s", diff)
	}
	if !tr.done {
		t.Fatal("message_stop not seen")
	}
	if u := tr.usage.toUsage(); u.PromptTokens != 14 || u.CompletionTokens != 7 || u.CachedTokens != 4 {
		t.Fatalf("usage %+v", u)
	}
	_, err := tr.event("p", []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	var ue *provider.UpstreamError
	if !errors.As(err, &ue) || ue.Message != "Overloaded" || !ue.Retryable() {
		t.Fatalf("error event: %v", err)
	}
}

func TestErrorFromResponse(t *testing.T) {
	res := &http.Response{StatusCode: 529, Header: http.Header{"Retry-After": {"3"}},
		Body: io.NopCloser(strings.NewReader(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))}
	err := errorFromResponse("claude", res)
	var ue *provider.UpstreamError
	if !errors.As(err, &ue) || ue.Type != "server_error" || ue.Message != "Overloaded" || ue.RetryAfter.Seconds() != 3 || !ue.Retryable() {
		t.Fatalf("%+v", err)
	}
	res = &http.Response{StatusCode: 400, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(`{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}`))}
	err = errorFromResponse("claude", res)
	if !errors.As(err, &ue) || ue.Type != "invalid_request_error" || ue.Retryable() {
		t.Fatalf("%+v", err)
	}
}

func FuzzTranslateRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"messages":[{"role":"assistant","tool_calls":[{"id":"1","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1","content":"x"}],"tools":[{"function":{"name":"f"}}],"tool_choice":"auto"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := translateRequest(b, "m")
		if err != nil {
			return
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("translated request does not encode: %v", err)
		}
		if len(r.Messages) == 0 || r.MaxTokens <= 0 {
			t.Fatalf("invalid translation accepted: %+v", r)
		}
	})
}

func FuzzStreamEvent(f *testing.F) {
	f.Add([]byte(`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}`))
	f.Add([]byte(`{"type":"message_start","message":{"id":"x","usage":{"input_tokens":1}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := newTranslator("m", 0)
		chunks, err := tr.event("p", b)
		if err != nil {
			return
		}
		for _, c := range chunks {
			if !json.Valid(c) {
				t.Fatalf("invalid chunk %s", c)
			}
		}
	})
}
