package gateway

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/provider/openai"
)

func FuzzDecodeLLM(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`))
	f.Add([]byte(`{"model":"m","input":["a"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, op := range []provider.Op{provider.OpChat, provider.OpCompletion, provider.OpEmbedding} {
			req, err := decodeLLM(op, b)
			if err != nil {
				if _, ok := err.(*apierr.Error); !ok {
					t.Fatalf("decode error is not an API error: %v", err)
				}
				continue
			}
			if req.Model == "" {
				t.Fatal("accepted a request without a model")
			}
		}
	})
}

// FuzzForwardedBodyHasOneOfEach: whatever body the gateway accepts, the
// body it forwards to an openai-format upstream holds exactly one model
// (the upstream's), one stream_options whose include_usage is true, and
// at most one of every other field the gateway decided on.
func FuzzForwardedBodyHasOneOfEach(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":null}`), "m")
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":false}}`), "up")
	f.Add([]byte(`{"mod\u0065l":"m","model":"x","messages":[{"role":"user","content":"hi"}]}`), "m")
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"n":1,"n":5}`), "m")
	f.Fuzz(func(t *testing.T, b []byte, upstream string) {
		req, err := decodeLLM(provider.OpChat, b)
		if err != nil {
			return
		}
		if upstream == "" {
			upstream = req.Model
		}
		if !utf8.ValidString(upstream) {
			return // model names are configured, valid UTF-8
		}
		out, err := openai.PatchBody(b, req.Model, upstream, true, req.hasStreamOptions)
		if err != nil {
			return // refused to forward: nothing reaches the upstream
		}
		keys := scanTopKeys(out)
		if key, dup := keys.duplicate(); dup {
			t.Fatalf("forwarded %q twice: %s", key, out)
		}
		var sent struct {
			Model         string `json:"model"`
			StreamOptions *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		if err := json.Unmarshal(out, &sent); err != nil {
			t.Fatalf("forwarded invalid JSON %s: %v", out, err)
		}
		if sent.Model != upstream || !keys.has("model") {
			t.Fatalf("forwarded model %q, want %q: %s", sent.Model, upstream, out)
		}
		if sent.StreamOptions == nil || !sent.StreamOptions.IncludeUsage {
			t.Fatalf("forwarded without include_usage: %s", out)
		}
	})
}

// TestDecidingKeysOnce: a body holding a field the gateway decides on
// twice (escaped or not) is refused, naming the field; a body with each
// once is not.
func TestDecidingKeysOnce(t *testing.T) {
	for _, tc := range []struct {
		body, dup string
	}{
		{`{"model":"allowed","model":"other","messages":[{"role":"user","content":"hi"}]}`, "model"},
		{`{"model":"allowed","mod\u0065l":"other","messages":[{"role":"user","content":"hi"}]}`, "model"},
		{`{"model":"m","stream":false,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "stream"},
		{`{"model":"m","stream_options":{"include_usage":true},"stream_options":null,"messages":[{"role":"user","content":"hi"}]}`, "stream_options"},
		{`{"model":"m","n":1,"n":8,"messages":[{"role":"user","content":"hi"}]}`, "n"},
		{`{"model":"forbidden","MODEL":"allowed","messages":[{"role":"user","content":"hi"}]}`, "model"},
		{`{"Model":"allowed","messages":[{"role":"user","content":"hi"}]}`, "model"},
		{`{"model":"m","Stream":true,"messages":[{"role":"user","content":"hi"}]}`, "stream"},
		{`{"model":"m","messages":[{"role":"user","content":"{\"model\":\"x\"}"}],"metadata":{"model":"y"}}`, ""},
	} {
		_, err := decodeLLM(provider.OpChat, []byte(tc.body))
		if tc.dup == "" {
			if err != nil {
				t.Fatalf("%s: refused (%v): nested or quoted keys are no duplicates", tc.body, err)
			}
			continue
		}
		var ae *apierr.Error
		if !errors.As(err, &ae) || ae.Param != tc.dup {
			t.Fatalf("%s: %v, want a 400 naming %s", tc.body, err, tc.dup)
		}
	}
	if _, _, err := decodeMedia(provider.OpImageGeneration, []byte(`{"model":"a","prompt":"p","model":"b"}`)); err == nil {
		t.Fatal("a media body with two models was accepted")
	}
}

// BenchmarkScanTopKeys: the duplicate check on a 4 KiB chat body, against
// the decode it adds to.
func BenchmarkScanTopKeys(b *testing.B) {
	body := []byte(`{"model":"gpt-mock","stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 340) + `"}]}`)
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			scanTopKeys(body)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := decodeLLM(provider.OpChat, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
