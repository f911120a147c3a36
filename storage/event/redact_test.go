package event

import (
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
