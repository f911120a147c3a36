package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/provider/anthropic"
	"github.com/tensorgate/tensorgate/storage/secret"
)

func TestTestProviderUsesTheAdapters(t *testing.T) {
	sealer, err := secret.New("test-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.DefaultConfig(), gateway.Deps{State: fsm.New(), Unsealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/chat/completions" && r.Header.Get("Authorization") == "Bearer sk-good":
			io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"pong"}}]}`)
		case r.URL.Path == "/v1/models" && r.Header.Get("x-api-key") == "sk-good" && r.Header.Get("anthropic-version") == anthropic.APIVersion:
			io.WriteString(w, `{"data":[{"id":"claude"}]}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"bad key","type":"authentication_error"}}`)
		}
	}))
	defer up.Close()
	provider := func(format, key string) *fsm.Provider {
		p := &fsm.Provider{Slug: "p", Format: format, BaseURL: up.URL, Models: []string{"m"}, Enabled: true}
		p.APIKeyCipher = sealer.Seal(secret.ProviderPurpose("p"), []byte(key))
		return p
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, format, capability, key string
		ok                            bool
		want                          string
	}{
		{"chat with the stored key", fsm.FormatOpenAI, "llm", "sk-good", true, "pong"},
		{"chat refused", fsm.FormatOpenAI, "llm", "sk-bad", false, "HTTP 401"},
		{"anthropic model list", fsm.FormatAnthropic, "asr", "sk-good", true, "claude"},
		{"anthropic model list refused", fsm.FormatAnthropic, "asr", "sk-bad", false, "HTTP 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer, err := gw.TestProvider(ctx, provider(tc.format, tc.key), tc.capability, "")
			got := answer
			if err != nil {
				got = err.Error()
			}
			if (err == nil) != tc.ok || !strings.Contains(got, tc.want) {
				t.Fatalf("got %q (err %v), want ok %v and %q", got, err, tc.ok, tc.want)
			}
		})
	}
}
