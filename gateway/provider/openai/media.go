package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/provider"
)

// mediaPaths are the media operations' paths under the API base (the
// chat path without /chat/completions: /v1, /compatible-mode/v1, ...):
// every operation of fsm.CapabilityTable beyond the three of chat, at
// the path clients call without its /v1. /ocr and /vision/segment are
// the contract's own, for self-hosted services that speak them.
var mediaPaths = func() map[provider.Op]string {
	m := map[provider.Op]string{}
	for _, c := range fsm.CapabilityTable {
		for _, e := range c.Endpoints {
			switch op := provider.Op(e.Op); op {
			case provider.OpChat, provider.OpCompletion, provider.OpEmbedding:
			default:
				m[op] = strings.TrimPrefix(e.Path, "/v1")
			}
		}
	}
	return m
}()

// APIBase is the prefix of an OpenAI-format API, from its chat path.
func APIBase(chatPath string) string {
	if base, ok := strings.CutSuffix(chatPath, "/chat/completions"); ok {
		return base
	}
	return "/v1"
}

// doMedia calls a media operation: the JSON body with the model renamed,
// or the spooled upload re-read with its model field replaced. Speech
// streams its audio through as it arrives; the others are read whole and
// their usage taken from the answer.
func (a *Adapter) doMedia(ctx context.Context, ep provider.Endpoint, req *provider.Request, sink provider.Sink) (provider.Result, error) {
	var (
		body io.Reader
		ct   = "application/json"
	)
	if req.Upload != nil {
		rc, uct, err := req.Upload.Open(map[string]string{"model": req.Model})
		if err != nil {
			return provider.Result{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassConnect, Message: "could not read the spooled upload", Err: err}
		}
		defer rc.Close()
		body, ct = rc, uct
	} else {
		b, err := PatchBody(req.Body, req.ClientModel, req.Model, false, false)
		if err != nil {
			return provider.Result{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassClientErr, Status: 400,
				Type: "invalid_request_error", Code: "invalid_request_error", Message: err.Error()}
		}
		body = bytes.NewReader(b)
	}
	hreq, err := http.NewRequest(http.MethodPost, ep.BaseURL+APIBase(ep.APIPath)+mediaPaths[req.Op], body)
	if err != nil {
		return provider.Result{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassConnect, Message: "bad upstream URL", Err: err}
	}
	hreq.Header.Set("Content-Type", ct)
	if ep.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+ep.APIKey)
	}
	speech := req.Op == provider.OpSpeech
	res, err := a.HTTP.Send(ctx, ep.Provider, hreq, speech)
	if err != nil {
		return provider.Result{}, err
	}
	defer res.Close()
	if res.StatusCode/100 != 2 {
		return provider.Result{TTFB: res.TTFB}, ErrorFromResponse(ep.Provider, res.Response)
	}
	rct := res.Header.Get("Content-Type")
	if speech {
		if rct == "" {
			rct = "audio/mpeg"
		}
		err := provider.CopyBinary(sink, res.Body, rct)
		if ue, ok := err.(*provider.UpstreamError); ok && ue.Provider == "" {
			ue.Provider = ep.Provider
		}
		return provider.Result{TTFB: res.TTFB}, err
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse+1))
	if err != nil {
		return provider.Result{TTFB: res.TTFB}, err
	}
	if len(b) > maxResponse {
		return provider.Result{TTFB: res.TTFB}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "upstream answer too large"}
	}
	if rct == "" {
		rct = "application/json"
	}
	u := MediaUsage(req.Op, b)
	sink.Start(http.StatusOK, rct)
	if _, err := sink.Write(b); err != nil {
		return provider.Result{Usage: u, TTFB: res.TTFB}, err
	}
	return provider.Result{Usage: u, TTFB: res.TTFB}, nil
}

// MediaUsage reads the units an answer reports: images listed, seconds of
// audio, pages read, images segmented. Units an answer does not state are
// left zero for the gateway to measure.
func MediaUsage(op provider.Op, b []byte) provider.Usage {
	var a struct {
		Data  []json.RawMessage `json:"data"`
		Pages []json.RawMessage `json:"pages"`
		// Transcriptions: verbose_json's duration, or usage.seconds.
		Duration float64 `json:"duration"`
		Usage    struct {
			Type    string  `json:"type"`
			Seconds float64 `json:"seconds"`
			Images  int64   `json:"images"`
			Pages   int64   `json:"pages"`
		} `json:"usage"`
	}
	if json.Unmarshal(b, &a) != nil {
		return provider.Usage{} // text, srt or vtt: nothing stated
	}
	var u provider.Usage
	switch op {
	case provider.OpImageGeneration, provider.OpImageEdit:
		u.Images = max(a.Usage.Images, int64(len(a.Data)))
	case provider.OpTranscription:
		u.Seconds = int64(math.Ceil(max(a.Usage.Seconds, a.Duration)))
	case provider.OpOCR:
		u.Pages = max(a.Usage.Pages, int64(len(a.Pages)))
	case provider.OpSegment:
		u.Images = a.Usage.Images
	}
	return u
}
