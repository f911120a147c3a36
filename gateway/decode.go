package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/provider"
)

// readBody reads the request body within the size limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, apierr.Newf(apierr.CodeRequestTooLarge, "request body of %d bytes exceeds the limit of %d", r.ContentLength, limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierr.Newf(apierr.CodeRequestTooLarge, "request body exceeds the limit of %d bytes", limit)
		}
		return nil, apierr.Invalid("", "could not read the request body")
	}
	return b, nil
}

// llmRequest is what the gateway itself needs from an llm request body;
// everything else passes through to the upstream untouched.
type llmRequest struct {
	Model         string          `json:"model"`
	Messages      json.RawMessage `json:"messages"`
	Prompt        json.RawMessage `json:"prompt"`
	Input         json.RawMessage `json:"input"`
	Stream        *bool           `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int64 `json:"max_tokens"`
	MaxCompletionTokens *int64 `json:"max_completion_tokens"`
	N                   *int64 `json:"n"`

	// hasStreamOptions: the body holds a stream_options key, null
	// included (a null must be replaced, never followed, by the one the
	// gateway writes).
	hasStreamOptions bool
}

type chatMessage struct {
	Role string `json:"role"`
}

// decodeLLM validates an llm request body for op, naming the offending
// parameter in every error.
func decodeLLM(op provider.Op, body []byte) (*llmRequest, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, apierr.Invalid("", "request body must be a JSON object")
	}
	var req llmRequest
	if err := json.Unmarshal(body, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, apierr.Invalid(te.Field, "%s: has the wrong type (%s)", te.Field, te.Value)
		}
		return nil, apierr.Invalid("", "request body is not valid JSON: %v", err)
	}
	keys := scanTopKeys(body)
	if err := noDuplicateKeys(&keys); err != nil {
		return nil, err
	}
	req.hasStreamOptions = keys.has("stream_options")
	if req.Model == "" {
		return nil, apierr.Invalid("model", "model: is required")
	}
	if req.Stream != nil && *req.Stream && op == provider.OpEmbedding {
		return nil, apierr.Invalid("stream", "stream: embeddings do not stream")
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}, {"n", req.N}} {
		if f.v != nil && *f.v < 1 {
			return nil, apierr.Invalid(f.name, "%s: must be at least 1", f.name)
		}
	}
	switch op {
	case provider.OpChat:
		var msgs []chatMessage
		if isNull(req.Messages) {
			return nil, apierr.Invalid("messages", "messages: is required")
		}
		if err := json.Unmarshal(req.Messages, &msgs); err != nil {
			return nil, apierr.Invalid("messages", "messages: must be an array of messages")
		}
		if len(msgs) == 0 {
			return nil, apierr.Invalid("messages", "messages: must not be empty")
		}
		for i, m := range msgs {
			switch m.Role {
			case "system", "developer", "user", "assistant", "tool", "function":
			default:
				return nil, apierr.Invalid(fmt.Sprintf("messages[%d].role", i), "messages[%d].role: %q is not a valid role", i, m.Role)
			}
		}
	case provider.OpCompletion:
		if isNull(req.Prompt) {
			return nil, apierr.Invalid("prompt", "prompt: is required")
		}
	case provider.OpEmbedding:
		if isNull(req.Input) {
			return nil, apierr.Invalid("input", "input: is required")
		}
	}
	return &req, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// promptEstimate guesses the prompt's tokens from the raw input, for quotas
// and for upstreams that report no usage.
func (r *llmRequest) promptEstimate() int64 {
	return provider.EstimateTokens(r.Messages) + provider.EstimateTokens(r.Prompt) + provider.EstimateTokens(r.Input)
}

// completionReserve is the completion reserved against TPM limits and
// budgets: what the request may ask for, DefaultMaxTokens when it names
// no limit, times n.
func (r *llmRequest) completionReserve() int64 {
	completion := int64(DefaultMaxTokens)
	if r.MaxCompletionTokens != nil {
		completion = *r.MaxCompletionTokens
	} else if r.MaxTokens != nil {
		completion = *r.MaxTokens
	}
	if r.N != nil {
		completion *= *r.N
	}
	return completion
}
