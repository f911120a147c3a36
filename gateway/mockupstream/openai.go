package mockupstream

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

type openaiRequest struct {
	Model         string          `json:"model"`
	Messages      json.RawMessage `json:"messages"`
	Prompt        json.RawMessage `json:"prompt"`
	Input         json.RawMessage `json:"input"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func readOpenAI(w http.ResponseWriter, r *http.Request) (openaiRequest, []byte, bool) {
	body, _ := io.ReadAll(r.Body)
	var req openaiRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		badRequest(w, false, "mock: body must be JSON with a model")
		return req, body, false
	}
	return req, body, true
}

func usage(prompt, completion int64) map[string]int64 {
	return map[string]int64{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	req, body, ok := readOpenAI(w, r)
	if !ok {
		return
	}
	if len(req.Messages) == 0 {
		badRequest(w, false, "mock: messages is required")
		return
	}
	b, ok := s.begin(w, r, body, false)
	if !ok {
		return
	}
	prompt := tokens(string(req.Messages))
	created := time.Now().Unix()
	if !req.Stream && s.mediaChat(w, req.Model, req.Messages, b) {
		return
	}
	if !req.Stream {
		resp := map[string]any{
			"id": "chatcmpl-mock", "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": b.reply()}, "finish_reason": "stop", "logprobs": nil}},
		}
		if !b.OmitUsage {
			resp["usage"] = usage(prompt, tokens(b.reply()))
		}
		writeJSON(w, resp)
		return
	}
	sw := startSSE(w)
	var buf []byte
	sw.data(chatChunk(buf[:0], created, req.Model, "", true, false))
	for i, c := range b.chunks() {
		if b.BreakAfter > 0 && i >= b.BreakAfter {
			panic(http.ErrAbortHandler) // cut the connection mid-stream
		}
		if !pause(r, b.ChunkDelay) {
			return
		}
		sw.data(chatChunk(buf[:0], created, req.Model, c, false, false))
	}
	sw.data(chatChunk(buf[:0], created, req.Model, "", false, true))
	if !b.OmitUsage && req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		sw.send("", map[string]any{"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{}, "usage": usage(prompt, tokens(b.reply()))})
	}
	sw.raw("data: [DONE]\n\n")
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	req, body, ok := readOpenAI(w, r)
	if !ok {
		return
	}
	b, ok := s.begin(w, r, body, false)
	if !ok {
		return
	}
	resp := map[string]any{
		"id": "cmpl-mock", "object": "text_completion", "created": time.Now().Unix(), "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "text": b.reply(), "finish_reason": "stop", "logprobs": nil}},
	}
	if !b.OmitUsage {
		resp["usage"] = usage(tokens(string(req.Prompt)), tokens(b.reply()))
	}
	writeJSON(w, resp)
}

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	req, body, ok := readOpenAI(w, r)
	if !ok {
		return
	}
	b, ok := s.begin(w, r, body, false)
	if !ok {
		return
	}
	var inputs []json.RawMessage
	if json.Unmarshal(req.Input, &inputs) != nil {
		inputs = []json.RawMessage{req.Input}
	}
	data := make([]any, len(inputs))
	for i := range inputs {
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": []float64{0.1, 0.2, 0.3}}
	}
	resp := map[string]any{"object": "list", "data": data, "model": req.Model}
	if !b.OmitUsage {
		p := tokens(string(req.Input))
		resp["usage"] = map[string]int64{"prompt_tokens": p, "total_tokens": p}
	}
	writeJSON(w, resp)
}
