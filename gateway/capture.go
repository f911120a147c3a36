package gateway

import (
	"strings"

	"github.com/tensorgate/tensorgate/storage/event"
)

// captureSlack is how much more than the stored cap a capture keeps, so
// redaction sees a secret that straddles the cut whole.
const captureSlack = 1024

// bodyCapture keeps the start of a response for its audit record: the
// bytes of a plain answer, or the assembled text of a stream.
type bodyCapture struct {
	limit   int
	buf     []byte
	total   int64  // bytes of the whole response (assembled text for a stream)
	scratch []byte // one chunk's text
	// binary is the content type of an answer that is not text (audio):
	// it is counted, not kept.
	binary string
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
	if c.binary != "" {
		return
	}
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
}

// chunk adds a stream event's text to the assembled answer.
func (c *bodyCapture) chunk(payload []byte) {
	c.scratch = event.AppendStreamText(c.scratch[:0], payload)
	capture(c, c.scratch)
}

// textual reports whether a content type is text the audit record can
// keep: JSON, text, SSE.
func textual(contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") || ct == ""
}
