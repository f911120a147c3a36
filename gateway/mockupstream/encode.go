package mockupstream

import (
	"encoding/json"
	"strconv"
)

// chatChunk renders one chat.completion.chunk without reflection, so the
// mock costs little next to whatever is measured in front of it.
func chatChunk(dst []byte, created int64, model, content string, role, finish bool) []byte {
	dst = append(dst, `{"id":"chatcmpl-mock","object":"chat.completion.chunk","created":`...)
	dst = strconv.AppendInt(dst, created, 10)
	dst = append(dst, `,"model":`...)
	dst = appendJSONString(dst, model)
	dst = append(dst, `,"choices":[{"index":0,"delta":{`...)
	switch {
	case role:
		dst = append(dst, `"role":"assistant","content":""`...)
	case !finish:
		dst = append(dst, `"content":`...)
		dst = appendJSONString(dst, content)
	}
	dst = append(dst, `},"finish_reason":`...)
	if finish {
		dst = append(dst, `"stop"`...)
	} else {
		dst = append(dst, `null`...)
	}
	return append(dst, `,"logprobs":null}]}`...)
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}
