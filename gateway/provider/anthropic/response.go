package anthropic

import (
	"encoding/json"
	"strings"

	"github.com/tensorgate/tensorgate/gateway/provider"
)

// Wire types of the Anthropic answer.
type (
	msgResponse struct {
		ID         string         `json:"id"`
		Model      string         `json:"model"`
		Content    []contentBlock `json:"content"`
		StopReason string         `json:"stop_reason"`
		Usage      msgUsage       `json:"usage"`
	}
	contentBlock struct {
		Type     string          `json:"type"`
		Text     string          `json:"text"`
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Input    json.RawMessage `json:"input"`
		Thinking string          `json:"thinking"`
	}
	msgUsage struct {
		InputTokens              int64 `json:"input_tokens"`
		OutputTokens             int64 `json:"output_tokens"`
		CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	}
)

// toUsage counts cache reads and writes as prompt tokens, as OpenAI's
// prompt_tokens does, and reports the reads as cached.
func (u msgUsage) toUsage() provider.Usage {
	prompt := u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
	return provider.Usage{
		PromptTokens: prompt, CompletionTokens: u.OutputTokens, TotalTokens: prompt + u.OutputTokens,
		CachedTokens: u.CacheReadInputTokens,
	}
}

// finishReason maps Anthropic's stop reasons to OpenAI's finish reasons.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn
		return "stop"
	}
}

// Wire types of the OpenAI answer.
type (
	chatCompletion struct {
		ID      string       `json:"id"`
		Object  string       `json:"object"`
		Created int64        `json:"created"`
		Model   string       `json:"model"`
		Choices []chatChoice `json:"choices"`
		Usage   *chatUsage   `json:"usage,omitempty"`
	}
	chatChoice struct {
		Index        int          `json:"index"`
		Message      *chatOutMsg  `json:"message,omitempty"`
		Delta        *chatOutMsg  `json:"delta,omitempty"`
		FinishReason *string      `json:"finish_reason"`
		Logprobs     *interface{} `json:"logprobs"`
	}
	chatOutMsg struct {
		Role             string        `json:"role,omitempty"`
		Content          *string       `json:"content,omitempty"`
		ReasoningContent string        `json:"reasoning_content,omitempty"`
		ToolCalls        []outToolCall `json:"tool_calls,omitempty"`
	}
	outToolCall struct {
		Index    *int   `json:"index,omitempty"`
		ID       string `json:"id,omitempty"`
		Type     string `json:"type,omitempty"`
		Function struct {
			Name      string `json:"name,omitempty"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
	chatUsage struct {
		PromptTokens        int64 `json:"prompt_tokens"`
		CompletionTokens    int64 `json:"completion_tokens"`
		TotalTokens         int64 `json:"total_tokens"`
		PromptTokensDetails *struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"prompt_tokens_details,omitempty"`
	}
)

func toChatUsage(u provider.Usage) *chatUsage {
	cu := &chatUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	if u.CachedTokens > 0 {
		cu.PromptTokensDetails = &struct {
			CachedTokens int64 `json:"cached_tokens"`
		}{u.CachedTokens}
	}
	return cu
}

// translateResponse turns a Messages answer into a chat completion.
func translateResponse(r *msgResponse, created int64) (*chatCompletion, provider.Usage) {
	var text, thinking strings.Builder
	msg := &chatOutMsg{Role: "assistant"}
	for _, b := range r.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "thinking":
			thinking.WriteString(b.Thinking)
		case "tool_use":
			var tc outToolCall
			tc.ID, tc.Type = b.ID, "function"
			tc.Function.Name = b.Name
			tc.Function.Arguments = string(b.Input)
			if len(b.Input) == 0 {
				tc.Function.Arguments = "{}"
			}
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	msg.ReasoningContent = thinking.String()
	fr := finishReason(r.StopReason)
	u := r.Usage.toUsage()
	return &chatCompletion{
		ID: r.ID, Object: "chat.completion", Created: created, Model: r.Model,
		Choices: []chatChoice{{Index: 0, Message: msg, FinishReason: &fr}},
		Usage:   toChatUsage(u),
	}, u
}
