package event

import "encoding/json"

// AppendStreamText appends to dst the text one OpenAI stream chunk adds
// to the answer: the string values of content, reasoning_content, text
// and tool-call arguments in the chunk's order, a tool call's function
// name as a marker. It scans the chunk rather than decoding it, as the
// data plane does this for every chunk it forwards; bytes it cannot read
// add nothing.
func AppendStreamText(dst, chunk []byte) []byte {
	for i := 0; i < len(chunk); {
		if chunk[i] != '"' {
			i++
			continue
		}
		end := stringEnd(chunk, i)
		v := skipSpace(chunk, end)
		if v >= len(chunk) || chunk[v] != ':' {
			i = end
			continue
		}
		v = skipSpace(chunk, v+1)
		if v >= len(chunk) || chunk[v] != '"' {
			i = v
			continue
		}
		vend := stringEnd(chunk, v)
		if vend > len(chunk) || vend-v < 2 || chunk[vend-1] != '"' {
			return dst // cut off inside the value
		}
		switch string(chunk[i+1 : end-1]) {
		case "content", "reasoning_content", "text", "arguments":
			dst = appendUnquoted(dst, chunk[v:vend])
		case "name":
			dst = append(dst, "\n[tool call "...)
			dst = appendUnquoted(dst, chunk[v:vend])
			dst = append(dst, "] "...)
		}
		i = vend
	}
	return dst
}

// appendUnquoted appends the value of the JSON string lit, quotes
// included in lit. Strings without escapes are copied as they are.
func appendUnquoted(dst, lit []byte) []byte {
	body := lit[1 : len(lit)-1]
	for _, c := range body {
		if c == '\\' {
			var s string
			if json.Unmarshal(lit, &s) != nil {
				return dst
			}
			return append(dst, s...)
		}
	}
	return append(dst, body...)
}
