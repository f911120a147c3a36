package event

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRedactorRemovesSecrets(t *testing.T) {
	r := NewRedactor(1<<10, []string{"ssn"})
	key := "gk_" + strings.Repeat("A", 43)
	cases := []struct{ name, in, want string }{
		{"field string", `{"model":"m","api_key":"abc","n":1}`, `{"model":"m","api_key":"[REDACTED]","n":1}`},
		{"field any case, nested, object value", `{"a":{"Password" : {"x":[1,"}"]},"b":2}}`, `{"a":{"Password" : "[REDACTED]","b":2}}`},
		{"configured field, number", `[{"ssn":123456789}]`, `[{"ssn":"[REDACTED]"}]`},
		{"value named like a field is kept", `{"role":"token"}`, `{"role":"token"}`},
		{"gateway key in text", `{"content":"my key is ` + key + ` ok"}`, `{"content":"my key is gk_[REDACTED] ok"}`},
		{"bearer in text", "Authorization: Bearer abcdefghijkl", "Authorization: Bearer [REDACTED]"},
		{"provider key", "sk-" + strings.Repeat("x", 40), "sk-[REDACTED]"},
		{"short lookalikes kept", "gk_short sk-abc", "gk_short sk-abc"},
		{"escaped quote in key", `{"a\"b":"v","token":"t"}`, `{"a\"b":"v","token":"[REDACTED]"}`},
		{"truncated mid value", `{"token":"abc`, `{"token":"[REDACTED]"`},
		{"key written with an escape", `{"content":"my key is gk\u005f` + key[3:] + `"}`, `{"content":"my key is gk_[REDACTED]"}`},
		{"field name written with an escape", `{"p\u0061ssword":"hunter2"}`, `{"p\u0061ssword":"[REDACTED]"}`},
	}
	for _, tc := range cases {
		got, cut := r.Body([]byte(tc.in))
		if got != tc.want || cut {
			t.Errorf("%s: got %s (cut %v), want %s", tc.name, got, cut, tc.want)
		}
	}
}

func TestRedactorCaps(t *testing.T) {
	r := NewRedactor(10, nil)
	got, cut := r.Body([]byte("0123456789abc"))
	if got != "0123456789" || !cut {
		t.Fatalf("got %q %v", got, cut)
	}
	// A cut never splits a UTF-8 sequence.
	got, cut = r.Body([]byte("123456789世界"))
	if got != "123456789" || !cut || !utf8.ValidString(got) {
		t.Fatalf("got %q %v", got, cut)
	}
	// A secret straddling the cut is still redacted.
	got, _ = NewRedactor(8, nil).Body([]byte("x gk_" + strings.Repeat("z", 40)))
	if strings.Contains(got, "zzz") {
		t.Fatalf("secret leaked across the cut: %q", got)
	}
	// Limit 0 keeps no body at all.
	if got, cut := NewRedactor(0, nil).Body([]byte("abc")); got != "" || !cut {
		t.Fatalf("limit 0: %q %v", got, cut)
	}
}

func FuzzRedactor(f *testing.F) {
	f.Add([]byte(`{"api_key":"x","messages":[{"content":"gk_aaaaaaaaaaaaaaaaaaaa"}]}`), 64)
	f.Add([]byte(`{"token":{"a":"}"`), 5)
	f.Add([]byte(`"\`), 3)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		limit = limit%4096 + 1
		if limit < 0 {
			limit = -limit
		}
		got, _ := NewRedactor(limit, nil).Body(in)
		if len(got) > limit {
			t.Fatalf("body of %d bytes over the limit %d", len(got), limit)
		}
		if utf8.Valid(in) && !utf8.ValidString(got) {
			t.Fatalf("valid UTF-8 in, invalid out: %q", got)
		}
		if strings.Contains(got, `"api_key":"x"`) {
			t.Fatalf("field not redacted: %q", got)
		}
	})
}

// FuzzNoKeySurvivesAnyEncoding: a gateway key written into a JSON string
// with any mix of escapes JSON allows (\uXXXX for any character, \/ for
// the slash) is stored redacted: neither the raw body nor the body as a
// JSON reader decodes it holds the key (issue 18 item 11).
func FuzzNoKeySurvivesAnyEncoding(f *testing.F) {
	f.Add([]byte("0123456789abcdefXYZ"), uint64(0))
	f.Add([]byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), uint64(0x5555))
	f.Fuzz(func(t *testing.T, tail []byte, escapes uint64) {
		var body []byte
		for _, c := range tail {
			if isKeyChar(c) {
				body = append(body, c)
			}
		}
		if len(body) < 16 {
			return
		}
		key := "gk_" + string(body)
		var lit strings.Builder
		lit.WriteString(`{"content":"my key: `)
		for i := 0; i < len(key); i++ {
			switch c := key[i]; {
			case escapes>>(uint(i)%64)&1 == 1:
				fmt.Fprintf(&lit, `\u%04x`, c)
			case c == '/':
				lit.WriteString(`\/`)
			default:
				lit.WriteByte(c)
			}
		}
		lit.WriteString(`"}`)
		r := NewRedactor(1<<16, nil)
		got, _ := r.Body([]byte(lit.String()))
		var decoded struct{ Content string }
		if err := json.Unmarshal([]byte(got), &decoded); err != nil {
			t.Fatalf("stored body is no longer JSON: %s", got)
		}
		if strings.Contains(got, key) || strings.Contains(decoded.Content, key) {
			t.Fatalf("key survived: %s -> %s", lit.String(), got)
		}
	})
}
