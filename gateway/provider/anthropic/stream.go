package anthropic

import (
	"encoding/json"

	"github.com/tensorgate/tensorgate/gateway/provider"
)

// streamEvent is any event of the Messages stream.
type streamEvent struct {
	Type         string          `json:"type"`
	Message      *msgResponse    `json:"message"`
	Index        int             `json:"index"`
	ContentBlock *contentBlock   `json:"content_block"`
	Delta        json.RawMessage `json:"delta"`
	Usage        *msgUsage       `json:"usage"`
	Error        *wireError      `json:"error"`
}

type blockDelta struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	PartialJSON string `json:"partial_json"`
	Thinking    string `json:"thinking"`
	StopReason  string `json:"stop_reason"`
}

// translator turns Messages stream events into chat completion chunks.
type translator struct {
	id, model string
	created   int64
	// toolIndex maps a content block index to its tool call's index.
	toolIndex map[int]int
	tools     int
	usage     msgUsage
	finish    string
	done      bool
}

func newTranslator(model string, created int64) *translator {
	return &translator{model: model, created: created, toolIndex: map[int]int{}}
}

func (t *translator) chunk(delta *chatOutMsg, finish *string) []byte {
	c := chatCompletion{
		ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
		Choices: []chatChoice{{Index: 0, Delta: delta, FinishReason: finish}},
	}
	b, _ := json.Marshal(c)
	return b
}

// usageChunk is the final chunk of a stream whose client asked for usage.
func (t *translator) usageChunk() []byte {
	c := chatCompletion{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
		Choices: []chatChoice{}, Usage: toChatUsage(t.usage.toUsage())}
	b, _ := json.Marshal(c)
	return b
}

// event translates one upstream event into zero or more chunk payloads. An
// error event comes back as an *UpstreamError.
func (t *translator) event(prov string, data []byte) ([][]byte, error) {
	var ev streamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, &provider.UpstreamError{Provider: prov, Class: provider.ClassProtocol, Message: "malformed stream event", Err: err}
	}
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			t.id = ev.Message.ID
			if ev.Message.Model != "" {
				t.model = ev.Message.Model
			}
			t.usage = ev.Message.Usage
		}
		empty := ""
		return [][]byte{t.chunk(&chatOutMsg{Role: "assistant", Content: &empty}, nil)}, nil
	case "content_block_start":
		if ev.ContentBlock != nil && ev.ContentBlock.Type == "tool_use" {
			idx := t.tools
			t.toolIndex[ev.Index] = idx
			t.tools++
			var tc outToolCall
			tc.Index, tc.ID, tc.Type = &idx, ev.ContentBlock.ID, "function"
			tc.Function.Name = ev.ContentBlock.Name
			return [][]byte{t.chunk(&chatOutMsg{ToolCalls: []outToolCall{tc}}, nil)}, nil
		}
		return nil, nil
	case "content_block_delta":
		var d blockDelta
		if err := json.Unmarshal(ev.Delta, &d); err != nil {
			return nil, &provider.UpstreamError{Provider: prov, Class: provider.ClassProtocol, Message: "malformed delta", Err: err}
		}
		switch d.Type {
		case "text_delta":
			s := d.Text
			return [][]byte{t.chunk(&chatOutMsg{Content: &s}, nil)}, nil
		case "thinking_delta":
			return [][]byte{t.chunk(&chatOutMsg{ReasoningContent: d.Thinking}, nil)}, nil
		case "input_json_delta":
			idx, ok := t.toolIndex[ev.Index]
			if !ok {
				return nil, nil
			}
			var tc outToolCall
			tc.Index = &idx
			tc.Function.Arguments = d.PartialJSON
			return [][]byte{t.chunk(&chatOutMsg{ToolCalls: []outToolCall{tc}}, nil)}, nil
		}
		return nil, nil
	case "message_delta":
		var d blockDelta
		_ = json.Unmarshal(ev.Delta, &d)
		if ev.Usage != nil {
			t.usage.OutputTokens = ev.Usage.OutputTokens
			if ev.Usage.InputTokens > 0 {
				t.usage.InputTokens = ev.Usage.InputTokens
			}
			if ev.Usage.CacheReadInputTokens > 0 {
				t.usage.CacheReadInputTokens = ev.Usage.CacheReadInputTokens
			}
			if ev.Usage.CacheCreationInputTokens > 0 {
				t.usage.CacheCreationInputTokens = ev.Usage.CacheCreationInputTokens
			}
		}
		if d.StopReason != "" {
			t.finish = finishReason(d.StopReason)
			f := t.finish
			return [][]byte{t.chunk(&chatOutMsg{}, &f)}, nil
		}
		return nil, nil
	case "message_stop":
		t.done = true
		return nil, nil
	case "error":
		ue := &provider.UpstreamError{Provider: prov, Class: provider.ClassBroken, Message: "upstream stream error"}
		if ev.Error != nil {
			ue.Type, ue.Message = ev.Error.Type, ev.Error.Message
		}
		return nil, ue
	}
	// ping, content_block_stop and event types added later carry nothing a
	// chat client needs.
	return nil, nil
}
