package gateway

import (
	"encoding/json"
)

// captureSlack is how much more than the stored cap a capture keeps, so
// redaction sees a secret that straddles the cut whole.
const captureSlack = 1024

// bodyCapture keeps the start of a response for its audit record: the
// bytes of a plain answer, or the assembled text of a stream.
type bodyCapture struct {
	limit int
	buf   []byte
	total int64 // bytes of the whole response (assembled text for a stream)
}

func newCapture(limit int) *bodyCapture {
	if limit <= 0 {
		return nil
	}
	return &bodyCapture{limit: limit + captureSlack}
}

// capture counts p and keeps what fits under the limit.
func capture[T []byte | string](c *bodyCapture, p T) {
	c.total += int64(len(p))
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
}

// streamChunk is what a capture reads of an OpenAI stream chunk: the text
// and tool calls it adds to the answer.
type streamChunk struct {
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

// chunk adds a stream event's text to the assembled answer.
func (c *bodyCapture) chunk(payload []byte) {
	if len(payload) == 0 || payload[0] != '{' {
		return
	}
	var ch streamChunk
	if json.Unmarshal(payload, &ch) != nil {
		return
	}
	for _, choice := range ch.Choices {
		d := &choice.Delta
		capture(c, d.Reasoning)
		capture(c, d.Content)
		capture(c, choice.Text)
		for _, tc := range d.ToolCalls {
			if tc.Function.Name != "" {
				capture(c, "\n[tool call "+tc.Function.Name+"] ")
			}
			capture(c, tc.Function.Arguments)
		}
	}
}
