package gateway

import (
	"encoding/json"
	"strings"

	"github.com/tensorgate/tensorgate/fsm/apierr"
)

// decidingKeys are the top-level request fields the gateway decides on
// (authorisation, routing, billing, the usage report it forces on): a
// body must hold each at most once. JSON allows a key twice and parsers
// disagree on which value counts (Go's takes the last, others the first),
// so a duplicate would let a client be authorised on one value and served
// on another.
var decidingKeys = [...]string{"model", "stream", "stream_options", "n", "max_tokens", "max_completion_tokens", "tools"}

// topKeys is what scanTopKeys found of the deciding keys.
type topKeys struct {
	count [len(decidingKeys)]uint8
	// odd is a deciding key spelt otherwise than as its name ("MODEL"):
	// encoding/json matches keys without regard to case, most upstreams
	// do not.
	odd string
}

// has reports whether the body's top-level object holds key (a deciding
// key), whatever its value, null included.
func (k *topKeys) has(key string) bool {
	for i, d := range decidingKeys {
		if d == key {
			return k.count[i] > 0
		}
	}
	return false
}

// duplicate returns the first deciding key the body holds more than once,
// in whatever spelling.
func (k *topKeys) duplicate() (string, bool) {
	for i, n := range k.count {
		if n > 1 {
			return decidingKeys[i], true
		}
	}
	return "", false
}

// scanTopKeys counts the deciding keys of the top-level object of body, a
// document encoding/json has already accepted. Keys are compared as JSON
// decodes them ("mod\u0065l" is "model") and matches them to struct
// fields (without regard to case: "MODEL" is "model" too). It does not
// allocate unless a key holds an escape.
func scanTopKeys(body []byte) topKeys {
	var k topKeys
	depth := 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			start := i
			escaped := false
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					escaped = true
					i++
				}
			}
			if depth != 1 || !isKey(body, i+1) {
				continue
			}
			raw := body[start+1 : i]
			if escaped {
				var s string
				if json.Unmarshal(body[start:i+1], &s) != nil {
					continue
				}
				raw = []byte(s)
			}
			for j, d := range decidingKeys {
				if !strings.EqualFold(string(raw), d) {
					continue
				}
				if k.count[j] < 255 {
					k.count[j]++
				}
				if string(raw) != d && k.odd == "" {
					k.odd = d
				}
			}
		}
	}
	return k
}

// isKey reports whether the string that ended just before i is an
// object's key: the next non-space byte is a colon.
func isKey(body []byte, i int) bool {
	for ; i < len(body); i++ {
		switch body[i] {
		case ' ', '\t', '\r', '\n':
		case ':':
			return true
		default:
			return false
		}
	}
	return false
}

// noDuplicateKeys refuses a body that holds a deciding key twice, or in
// another spelling than its name.
func noDuplicateKeys(k *topKeys) error {
	if key, dup := k.duplicate(); dup {
		return apierr.Invalid(key, "%s: appears more than once in the request body; send each field once", key)
	}
	if k.odd != "" {
		return apierr.Invalid(k.odd, "%s: spell the field %q exactly (lower case)", k.odd, k.odd)
	}
	return nil
}
