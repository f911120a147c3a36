package gateway

import (
	"testing"

	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/provider"
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
