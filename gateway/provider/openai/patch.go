package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
)

var timeNow = time.Now

// PatchBody returns body, whose "model" is clientModel, with "model" set to
// model and, when forceUsage, stream_options.include_usage set. A body that
// needs neither change is returned as is, byte for byte. Only top-level
// fields are re-encoded; nested values such as messages stay raw.
//
// hasStreamOptions says whether body holds a stream_options field; when it
// does not and the model is unchanged, the field is spliced in after the
// opening brace without decoding the body at all.
func PatchBody(body []byte, clientModel, model string, forceUsage, hasStreamOptions bool) ([]byte, error) {
	if clientModel == model {
		if !forceUsage {
			return body, nil
		}
		if !hasStreamOptions {
			if i := bytes.IndexByte(body, '{'); i >= 0 {
				const field = `"stream_options":{"include_usage":true}`
				out := make([]byte, 0, len(body)+len(field)+1)
				out = append(out, body[:i+1]...)
				out = append(out, field...)
				rest := bytes.TrimLeft(body[i+1:], " \t\r\n")
				if len(rest) > 0 && rest[0] != '}' {
					out = append(out, ',')
				}
				return append(out, body[i+1:]...), nil
			}
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, errors.New("request body is not a JSON object")
	}
	mb, _ := json.Marshal(model)
	m["model"] = mb
	if forceUsage {
		var so map[string]json.RawMessage
		if raw, ok := m["stream_options"]; ok && !bytes.Equal(raw, []byte("null")) {
			if err := json.Unmarshal(raw, &so); err != nil {
				return nil, errors.New("stream_options must be an object")
			}
		}
		if so == nil {
			so = map[string]json.RawMessage{}
		}
		so["include_usage"] = json.RawMessage("true")
		m["stream_options"], _ = json.Marshal(so)
	}
	return json.Marshal(m)
}
