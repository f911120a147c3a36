package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/sse"
)

// APIVersion is the anthropic-version header sent upstream.
const APIVersion = "2023-06-01"

const maxResponse = 64 << 20

// Adapter calls Anthropic-format upstreams.
type Adapter struct {
	HTTP *provider.HTTP
	// Now is the clock for the "created" field; nil means time.Now.
	Now func() time.Time
}

var _ provider.Adapter = (*Adapter)(nil)

// Supports reports that only chat translates to the Messages API.
func (a *Adapter) Supports(op provider.Op) bool { return op == provider.OpChat }

func (a *Adapter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Do translates the request, calls the upstream and writes the translated
// answer to sink.
func (a *Adapter) Do(ctx context.Context, ep provider.Endpoint, req *provider.Request, sink provider.Sink) (provider.Result, error) {
	mreq, err := translateRequest(req.Body, req.Model)
	if err != nil {
		var re *requestError
		ue := &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassClientErr, Status: 400,
			Type: "invalid_request_error", Code: "invalid_request_error", Message: err.Error()}
		if errors.As(err, &re) {
			ue.Param = re.param
		}
		return provider.Result{}, ue
	}
	mreq.Stream = req.Stream
	body, err := json.Marshal(mreq)
	if err != nil {
		return provider.Result{}, err
	}
	hreq, err := http.NewRequest(http.MethodPost, ep.BaseURL+ep.APIPath, bytes.NewReader(body))
	if err != nil {
		return provider.Result{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassConnect, Message: "bad upstream URL", Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("anthropic-version", APIVersion)
	if ep.APIKey != "" {
		hreq.Header.Set("x-api-key", ep.APIKey)
	}
	res, err := a.HTTP.Send(ctx, ep.Provider, hreq, req.Stream)
	if err != nil {
		return provider.Result{}, err
	}
	defer res.Close()
	if res.StatusCode/100 != 2 {
		return provider.Result{TTFB: res.TTFB}, errorFromResponse(ep.Provider, res.Response)
	}
	var u provider.Usage
	if req.Stream {
		u, err = a.stream(ep, req, res, sink)
	} else {
		u, err = a.buffered(ep, res, sink)
	}
	return provider.Result{Usage: u, TTFB: res.TTFB}, err
}

func (a *Adapter) buffered(ep provider.Endpoint, res *provider.Response, sink provider.Sink) (provider.Usage, error) {
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return provider.Usage{}, err
	}
	var mr msgResponse
	if err := json.Unmarshal(b, &mr); err != nil {
		return provider.Usage{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "upstream answer is not JSON", Err: err}
	}
	cc, u := translateResponse(&mr, a.now().Unix())
	out, err := json.Marshal(cc)
	if err != nil {
		return provider.Usage{}, err
	}
	sink.Start(http.StatusOK, "application/json")
	_, err = sink.Write(out)
	return u, err
}

func (a *Adapter) stream(ep provider.Endpoint, req *provider.Request, res *provider.Response, sink provider.Sink) (provider.Usage, error) {
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return provider.Usage{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "upstream answered " + ct + " to a stream request"}
	}
	t := newTranslator(req.Model, a.now().Unix())
	r := sse.NewReader(res.Body, 0)
	defer r.Release()
	for {
		ev, err := r.Next()
		if err != nil {
			if _, ok := err.(*provider.UpstreamError); ok {
				return provider.Usage{}, err
			}
			return provider.Usage{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassBroken, Message: "the upstream's stream ended before it finished", Err: err}
		}
		chunks, err := t.event(ep.Provider, ev.Data)
		if err != nil {
			return provider.Usage{}, err
		}
		for _, c := range chunks {
			if !sink.Started() {
				sink.Start(http.StatusOK, "text/event-stream")
			}
			if err := sink.Event(c); err != nil {
				return provider.Usage{}, err
			}
		}
		if t.done {
			if !sink.Started() {
				sink.Start(http.StatusOK, "text/event-stream")
			}
			if req.ClientWantsUsage {
				if err := sink.Event(t.usageChunk()); err != nil {
					return provider.Usage{}, err
				}
			}
			if err := sink.Event(sse.Done); err != nil {
				return provider.Usage{}, err
			}
			return t.usage.toUsage(), sink.Flush()
		}
		if r.Buffered() == 0 && sink.Started() {
			if err := sink.Flush(); err != nil {
				return provider.Usage{}, err
			}
		}
	}
}

type wireError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// errorFromResponse maps an Anthropic error answer to an *UpstreamError with
// an OpenAI-style type.
func errorFromResponse(prov string, res *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	ue := &provider.UpstreamError{
		Provider: prov, Status: res.StatusCode, Class: provider.ClassifyStatus(res.StatusCode),
		RetryAfter: provider.ParseRetryAfter(res.Header.Get("Retry-After"), time.Now()),
	}
	var env struct {
		Error *wireError `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil && env.Error != nil {
		ue.Message = env.Error.Message
		ue.Type = openAIType(env.Error.Type)
		ue.Code = env.Error.Type
	} else {
		ue.Message = strings.TrimSpace(string(b))
		if len(ue.Message) > 200 {
			ue.Message = ue.Message[:200]
		}
	}
	return ue
}

// openAIType maps Anthropic error types onto OpenAI's.
func openAIType(t string) string {
	switch t {
	case "invalid_request_error", "request_too_large", "not_found_error":
		return "invalid_request_error"
	case "authentication_error", "permission_error":
		return "authentication_error"
	case "rate_limit_error":
		return "rate_limit_error"
	default: // api_error, overloaded_error
		return "server_error"
	}
}
