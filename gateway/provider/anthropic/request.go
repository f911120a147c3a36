// Package anthropic is the adapter for Anthropic-format upstreams. It
// translates OpenAI chat requests into Messages API requests and the answers,
// JSON and streamed, back into OpenAI chat completions.
package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// DefaultMaxTokens is sent when the client sets no limit; Anthropic requires
// one.
const DefaultMaxTokens = 4096

// Wire types of the OpenAI chat request, as much as translation needs.
type (
	chatRequest struct {
		Model               string          `json:"model"`
		Messages            []chatMessage   `json:"messages"`
		MaxTokens           *int64          `json:"max_tokens"`
		MaxCompletionTokens *int64          `json:"max_completion_tokens"`
		Temperature         *float64        `json:"temperature"`
		TopP                *float64        `json:"top_p"`
		Stop                json.RawMessage `json:"stop"`
		Stream              bool            `json:"stream"`
		Tools               []chatTool      `json:"tools"`
		ToolChoice          json.RawMessage `json:"tool_choice"`
		ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
		User                string          `json:"user"`
	}
	chatMessage struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCalls  []chatToolCall  `json:"tool_calls"`
		ToolCallID string          `json:"tool_call_id"`
	}
	chatPart struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL *struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	chatToolCall struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
	chatTool struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
)

// Wire types of the Anthropic Messages request.
type (
	msgRequest struct {
		Model         string       `json:"model"`
		System        string       `json:"system,omitempty"`
		Messages      []msgMessage `json:"messages"`
		MaxTokens     int64        `json:"max_tokens"`
		Temperature   *float64     `json:"temperature,omitempty"`
		TopP          *float64     `json:"top_p,omitempty"`
		StopSequences []string     `json:"stop_sequences,omitempty"`
		Stream        bool         `json:"stream,omitempty"`
		Tools         []msgTool    `json:"tools,omitempty"`
		ToolChoice    *toolChoice  `json:"tool_choice,omitempty"`
		Metadata      *metadata    `json:"metadata,omitempty"`
	}
	metadata struct {
		UserID string `json:"user_id"`
	}
	msgMessage struct {
		Role    string     `json:"role"`
		Content []msgBlock `json:"content"`
	}
	msgBlock struct {
		Type      string          `json:"type"`
		Text      string          `json:"text,omitempty"`
		Source    *imageSource    `json:"source,omitempty"`
		ID        string          `json:"id,omitempty"`
		Name      string          `json:"name,omitempty"`
		Input     json.RawMessage `json:"input,omitempty"`
		ToolUseID string          `json:"tool_use_id,omitempty"`
		Content   []msgBlock      `json:"content,omitempty"`
	}
	imageSource struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type,omitempty"`
		Data      string `json:"data,omitempty"`
		URL       string `json:"url,omitempty"`
	}
	msgTool struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		InputSchema json.RawMessage `json:"input_schema"`
	}
	toolChoice struct {
		Type                   string `json:"type"`
		Name                   string `json:"name,omitempty"`
		DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
	}
)

// requestError is a translation failure the client caused; param names the
// offending field.
type requestError struct{ param, msg string }

func (e *requestError) Error() string { return e.param + ": " + e.msg }

func badf(param, format string, args ...any) error {
	return &requestError{param: param, msg: fmt.Sprintf(format, args...)}
}

// translateRequest turns an OpenAI chat request into a Messages request for
// model.
func translateRequest(body []byte, model string) (*msgRequest, error) {
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badf("body", "not a valid chat request: %v", err)
	}
	out := &msgRequest{Model: model, Temperature: in.Temperature, TopP: in.TopP, Stream: in.Stream, MaxTokens: DefaultMaxTokens}
	switch {
	case in.MaxCompletionTokens != nil:
		out.MaxTokens = *in.MaxCompletionTokens
	case in.MaxTokens != nil:
		out.MaxTokens = *in.MaxTokens
	}
	if out.MaxTokens <= 0 {
		return nil, badf("max_tokens", "must be positive")
	}
	if in.Temperature != nil && *in.Temperature > 1 {
		// OpenAI allows up to 2, Anthropic up to 1.
		t := 1.0
		out.Temperature = &t
	}
	if len(in.Stop) > 0 && !bytes.Equal(in.Stop, []byte("null")) {
		var one string
		if json.Unmarshal(in.Stop, &one) == nil {
			out.StopSequences = []string{one}
		} else if err := json.Unmarshal(in.Stop, &out.StopSequences); err != nil {
			return nil, badf("stop", "must be a string or an array of strings")
		}
	}
	if in.User != "" {
		out.Metadata = &metadata{UserID: in.User}
	}
	var system []string
	for i, m := range in.Messages {
		switch m.Role {
		case "system", "developer":
			text, err := textOf(m.Content, fmt.Sprintf("messages[%d].content", i))
			if err != nil {
				return nil, err
			}
			if text != "" {
				system = append(system, text)
			}
		case "user":
			blocks, err := userBlocks(m.Content, i)
			if err != nil {
				return nil, err
			}
			out.appendMessage("user", blocks)
		case "assistant":
			blocks, err := assistantBlocks(m, i)
			if err != nil {
				return nil, err
			}
			out.appendMessage("assistant", blocks)
		case "tool":
			text, err := textOf(m.Content, fmt.Sprintf("messages[%d].content", i))
			if err != nil {
				return nil, err
			}
			res := msgBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
			if text != "" {
				res.Content = []msgBlock{{Type: "text", Text: text}}
			}
			out.appendMessage("user", []msgBlock{res})
		default:
			return nil, badf(fmt.Sprintf("messages[%d].role", i), "unknown role %q", m.Role)
		}
	}
	out.System = strings.Join(system, "\n\n")
	if len(out.Messages) == 0 {
		return nil, badf("messages", "must hold at least one user or assistant message")
	}
	for i, t := range in.Tools {
		if t.Type != "" && t.Type != "function" {
			return nil, badf(fmt.Sprintf("tools[%d].type", i), "only function tools are supported")
		}
		schema := t.Function.Parameters
		if len(schema) == 0 || bytes.Equal(schema, []byte("null")) {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, msgTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	tc, err := translateToolChoice(in.ToolChoice)
	if err != nil {
		return nil, err
	}
	if in.ParallelToolCalls != nil && !*in.ParallelToolCalls && len(out.Tools) > 0 {
		if tc == nil {
			tc = &toolChoice{Type: "auto"}
		}
		tc.DisableParallelToolUse = true
	}
	if tc != nil && tc.Type == "none" && len(out.Tools) == 0 {
		tc = nil
	}
	out.ToolChoice = tc
	return out, nil
}

// appendMessage adds blocks as a message, merging into the previous one
// when the role repeats (Anthropic wants roles to alternate; several tool
// results become one user turn).
func (r *msgRequest) appendMessage(role string, blocks []msgBlock) {
	if len(blocks) == 0 {
		return
	}
	if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == role {
		r.Messages[n-1].Content = append(r.Messages[n-1].Content, blocks...)
		return
	}
	r.Messages = append(r.Messages, msgMessage{Role: role, Content: blocks})
}

func translateToolChoice(raw json.RawMessage) (*toolChoice, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto":
			return &toolChoice{Type: "auto"}, nil
		case "none":
			return &toolChoice{Type: "none"}, nil
		case "required":
			return &toolChoice{Type: "any"}, nil
		}
		return nil, badf("tool_choice", "unknown value %q", s)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Function.Name == "" {
		return nil, badf("tool_choice", "must be auto, none, required or a function")
	}
	return &toolChoice{Type: "tool", Name: obj.Function.Name}, nil
}

// textOf flattens string or text-part content to a string.
func textOf(content json.RawMessage, param string) (string, error) {
	if len(content) == 0 || bytes.Equal(content, []byte("null")) {
		return "", nil
	}
	var s string
	if json.Unmarshal(content, &s) == nil {
		return s, nil
	}
	var parts []chatPart
	if err := json.Unmarshal(content, &parts); err != nil {
		return "", badf(param, "must be a string or an array of content parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", badf(param, "only text parts are allowed here, got %q", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func userBlocks(content json.RawMessage, i int) ([]msgBlock, error) {
	param := fmt.Sprintf("messages[%d].content", i)
	var s string
	if json.Unmarshal(content, &s) == nil {
		if s == "" {
			return nil, nil
		}
		return []msgBlock{{Type: "text", Text: s}}, nil
	}
	var parts []chatPart
	if err := json.Unmarshal(content, &parts); err != nil {
		return nil, badf(param, "must be a string or an array of content parts")
	}
	var out []msgBlock
	for _, p := range parts {
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, msgBlock{Type: "text", Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, badf(param, "image_url part without a url")
			}
			src, err := imageFromURL(p.ImageURL.URL, param)
			if err != nil {
				return nil, err
			}
			out = append(out, msgBlock{Type: "image", Source: src})
		default:
			return nil, badf(param, "unsupported content part %q", p.Type)
		}
	}
	return out, nil
}

// imageFromURL maps a data URL to a base64 source and anything else to a URL
// source.
func imageFromURL(u, param string) (*imageSource, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return nil, badf(param, "image url must be http(s) or a data URL")
		}
		return &imageSource{Type: "url", URL: u}, nil
	}
	meta, data, ok := strings.Cut(rest, ",")
	mediaType, isB64 := strings.CutSuffix(meta, ";base64")
	if !ok || !isB64 || mediaType == "" {
		return nil, badf(param, "data URL must be data:<media type>;base64,<data>")
	}
	return &imageSource{Type: "base64", MediaType: mediaType, Data: data}, nil
}

func assistantBlocks(m chatMessage, i int) ([]msgBlock, error) {
	text, err := textOf(m.Content, fmt.Sprintf("messages[%d].content", i))
	if err != nil {
		return nil, err
	}
	var out []msgBlock
	if text != "" {
		out = append(out, msgBlock{Type: "text", Text: text})
	}
	for j, tc := range m.ToolCalls {
		input := json.RawMessage(tc.Function.Arguments)
		if strings.TrimSpace(tc.Function.Arguments) == "" {
			input = json.RawMessage("{}")
		} else if !json.Valid(input) {
			return nil, badf(fmt.Sprintf("messages[%d].tool_calls[%d].function.arguments", i, j), "must be a JSON object")
		}
		out = append(out, msgBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return out, nil
}
