package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// DefaultRedactFields are JSON field names whose values are always
// redacted, at any depth, compared case-insensitively.
var DefaultRedactFields = []string{
	"api_key", "apikey", "x-api-key", "authorization", "password", "secret",
	"client_secret", "token", "access_token", "refresh_token",
}

// Redacted replaces a secret in a stored body.
const Redacted = "[REDACTED]"

// DefaultBodyLimit is how much of each body an event keeps by default.
const DefaultBodyLimit = 64 << 10

// Redactor caps bodies and removes secrets from them before they are
// stored: values of the configured JSON fields, gateway keys (gk_...),
// provider-style keys (sk-...) and bearer tokens anywhere in the text.
type Redactor struct {
	limit  int
	fields map[string]bool
}

// NewRedactor keeps up to limit bytes of each body (0 keeps none) and
// redacts DefaultRedactFields plus extra.
func NewRedactor(limit int, extra []string) *Redactor {
	r := &Redactor{limit: limit, fields: map[string]bool{}}
	for _, f := range append(append([]string{}, DefaultRedactFields...), extra...) {
		if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
			r.fields[f] = true
		}
	}
	return r
}

// Limit is the most bytes of a body an event keeps.
func (r *Redactor) Limit() int { return r.limit }

// Body returns b redacted and capped, and whether it was cut short.
func (r *Redactor) Body(b []byte) (string, bool) {
	if r == nil || r.limit <= 0 || len(b) == 0 {
		return "", len(b) > 0
	}
	// Redact a little more than is kept, so a secret straddling the cut
	// is recognised before the cut hides its end.
	in := b
	if len(in) > r.limit+1024 {
		in = in[:r.limit+1024]
	}
	// Bodies are walked as JSON even when they are not: on other text
	// the walk only ever removes more.
	out := scrubSecrets(r.redactJSON(in))
	truncated := len(in) < len(b)
	if len(out) > r.limit {
		out, truncated = out[:r.limit], true
	}
	// Never end inside a UTF-8 sequence.
	for len(out) > 0 && !utf8.Valid(out[max(0, len(out)-utf8.UTFMax):]) {
		out = out[:len(out)-1]
	}
	return string(out), truncated
}

// redactJSON copies possibly truncated JSON, replacing the value of every
// object field named in r.fields with "[REDACTED]".
func (r *Redactor) redactJSON(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		if in[i] != '"' {
			out = append(out, in[i])
			i++
			continue
		}
		end := stringEnd(in, i)
		text, decoded := unescape(in[i:end])
		if decoded {
			// Written with escapes ("gk\u005f..."): what a reader of the
			// body sees is the decoded text, so that is what is checked,
			// and the string is stored re-encoded when it held a secret.
			if scrubbed := scrubSecrets([]byte(text)); string(scrubbed) != text {
				enc, _ := json.Marshal(string(scrubbed))
				out = append(out, enc...)
			} else {
				out = append(out, in[i:end]...)
			}
		} else {
			out = append(out, in[i:end]...)
			text = string(in[i+1 : max(i+1, end-1)])
		}
		colon := skipSpace(in, end)
		if colon >= len(in) || in[colon] != ':' || !r.fields[strings.ToLower(text)] {
			i = end
			continue
		}
		// A field to redact: copy up to its value, then replace it.
		v := skipSpace(in, colon+1)
		out = append(out, in[end:v]...)
		if v >= len(in) {
			return out
		}
		out = append(out, `"`+Redacted+`"`...)
		i = valueEnd(in, v)
	}
	return out
}

// unescape decodes a whole JSON string literal that holds an escape; it
// reports false for one without (read it as it is) or one cut short.
func unescape(lit []byte) (string, bool) {
	if len(lit) < 2 || lit[len(lit)-1] != '"' || bytes.IndexByte(lit, '\\') < 0 {
		return "", false
	}
	var s string
	if json.Unmarshal(lit, &s) != nil {
		return "", false
	}
	return s, true
}

// stringEnd returns the index after the string starting at in[i] == '"'.
func stringEnd(in []byte, i int) int {
	for j := i + 1; j < len(in); j++ {
		switch in[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(in)
}

func skipSpace(in []byte, i int) int {
	for i < len(in) && (in[i] == ' ' || in[i] == '\t' || in[i] == '\n' || in[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index after the JSON value starting at in[i].
func valueEnd(in []byte, i int) int {
	switch in[i] {
	case '"':
		return stringEnd(in, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(in); j++ {
			switch in[j] {
			case '"':
				j = stringEnd(in, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(in)
	}
	j := i
	for j < len(in) && in[j] != ',' && in[j] != '}' && in[j] != ']' && in[j] != ' ' && in[j] != '\n' && in[j] != '\r' && in[j] != '\t' {
		j++
	}
	return j
}

// secretPrefixes start tokens that are redacted wherever they appear,
// with the shortest run of key characters that counts as a secret.
var secretPrefixes = []struct {
	prefix string
	min    int
}{
	{"gk_", 16},
	{"sk-", 16},
	{"Bearer ", 8},
	{"bearer ", 8},
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '+' || c == '/' || c == '='
}

// scrubSecrets replaces key-like tokens after a secret prefix.
func scrubSecrets(b []byte) []byte {
	for _, p := range secretPrefixes {
		from := 0
		for {
			k := bytes.Index(b[from:], []byte(p.prefix))
			if k < 0 {
				break
			}
			start := from + k + len(p.prefix)
			end := start
			for end < len(b) && isKeyChar(b[end]) {
				end++
			}
			if end-start < p.min {
				from = start
				continue
			}
			b = append(b[:start], append([]byte(Redacted), b[end:]...)...)
			from = start + len(Redacted)
		}
	}
	return b
}
