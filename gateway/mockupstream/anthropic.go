package mockupstream

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

type anthropicRequest struct {
	Model     string `json:"model"`
	MaxTokens int64  `json:"max_tokens"`
	System    any    `json:"system"`
	Stream    bool   `json:"stream"`
	Messages  []struct {
		Role    string `json:"role"`
		Content []struct {
			Type      string          `json:"type"`
			Text      string          `json:"text"`
			ToolUseID string          `json:"tool_use_id"`
			Content   json.RawMessage `json:"content"`
		} `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name string `json:"name"`
	} `json:"tools"`
}

// messages answers the Messages API. With tools and a fresh user turn it
// calls the first tool; after a tool result it reports what it received.
func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	body, _ := io.ReadAll(r.Body)
	var req anthropicRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		badRequest(w, true, "mock: body must be JSON with a model")
		return
	}
	if req.MaxTokens <= 0 {
		badRequest(w, true, "max_tokens: Field required")
		return
	}
	if len(req.Messages) == 0 {
		badRequest(w, true, "messages: at least one message is required")
		return
	}
	b, ok := s.begin(w, r, body, true)
	if !ok {
		return
	}
	last := req.Messages[len(req.Messages)-1]
	reply := b.reply()
	var toolName string
	for _, c := range last.Content {
		if c.Type == "tool_result" {
			reply = "tool result received: " + string(c.Content)
		}
	}
	if len(req.Tools) > 0 && last.Role == "user" && !strings.HasPrefix(reply, "tool result") {
		toolName = req.Tools[0].Name
	}
	u := map[string]int64{"input_tokens": tokens(string(body)), "output_tokens": tokens(reply), "cache_read_input_tokens": 2, "cache_creation_input_tokens": 1}
	stop := "end_turn"
	if toolName != "" {
		stop = "tool_use"
	}
	if !req.Stream {
		content := []any{map[string]any{"type": "text", "text": reply}}
		if toolName != "" {
			content = []any{map[string]any{"type": "tool_use", "id": "toolu_mock1", "name": toolName, "input": map[string]any{"city": "Paris"}}}
		}
		writeJSON(w, map[string]any{"id": "msg_mock", "type": "message", "role": "assistant", "model": req.Model,
			"content": content, "stop_reason": stop, "stop_sequence": nil, "usage": u})
		return
	}
	sw := startSSE(w)
	startUsage := map[string]int64{"input_tokens": u["input_tokens"], "output_tokens": 1, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 1}
	sw.send("message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": "msg_mock", "type": "message", "role": "assistant",
		"model": req.Model, "content": []any{}, "stop_reason": nil, "usage": startUsage}})
	sw.send("ping", map[string]any{"type": "ping"})
	if toolName != "" {
		sw.send("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "tool_use", "id": "toolu_mock1", "name": toolName, "input": map[string]any{}}})
		for _, part := range []string{`{"city":`, `"Paris"}`} {
			sw.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
				"delta": map[string]any{"type": "input_json_delta", "partial_json": part}})
		}
	} else {
		sw.send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		bb := b
		bb.Reply = reply
		for i, c := range bb.chunks() {
			if b.BreakAfter > 0 && i >= b.BreakAfter {
				panic(http.ErrAbortHandler)
			}
			if !pause(r, b.ChunkDelay) {
				return
			}
			sw.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": c}})
		}
	}
	sw.send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	sw.send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]int64{"output_tokens": u["output_tokens"]}})
	sw.send("message_stop", map[string]any{"type": "message_stop"})
}
