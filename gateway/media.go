package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"unicode/utf8"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/media"
	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/quota"
	"github.com/tensorgate/tensorgate/gateway/route"
)

// mediaOp is one endpoint of the five media capabilities.
type mediaOp struct {
	path       string
	op         provider.Op
	capability string
	multipart  bool
}

var mediaOps = []mediaOp{
	{"/images/generations", provider.OpImageGeneration, "image", false},
	{"/images/edits", provider.OpImageEdit, "image", true},
	{"/audio/transcriptions", provider.OpTranscription, "asr", true},
	{"/audio/speech", provider.OpSpeech, "tts", false},
	{"/ocr", provider.OpOCR, "ocr", false},
	{"/vision/segment", provider.OpSegment, "vision-segment", false},
}

// mediaRequest is what the gateway itself reads from a media request;
// the rest passes through to the upstream.
type mediaRequest struct {
	Model    string  `json:"model"`
	N        *int64  `json:"n"`
	Prompt   *string `json:"prompt"`
	Input    *string `json:"input"`
	Document *struct {
		Type        string `json:"type"`
		ImageURL    string `json:"image_url"`
		DocumentURL string `json:"document_url"`
	} `json:"document"`
	Image *string `json:"image"`
}

// maxImages bounds n for image calls.
const maxImages = 10

// decodeMedia validates a JSON media request and returns the units it
// will use as far as the gateway can tell before the call.
func decodeMedia(op provider.Op, body []byte) (*mediaRequest, provider.Usage, error) {
	var in mediaRequest
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, provider.Usage{}, apierr.Invalid("", "request body must be a JSON object")
	}
	if err := json.Unmarshal(body, &in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, provider.Usage{}, apierr.Invalid(te.Field, "%s: has the wrong type (%s)", te.Field, te.Value)
		}
		return nil, provider.Usage{}, apierr.Invalid("", "request body is not valid JSON: %v", err)
	}
	if in.Model == "" {
		return nil, provider.Usage{}, apierr.Invalid("model", "model: is required")
	}
	var u provider.Usage
	switch op {
	case provider.OpImageGeneration:
		if in.Prompt == nil || *in.Prompt == "" {
			return nil, u, apierr.Invalid("prompt", "prompt: is required")
		}
		n, err := imageCount(in.N)
		if err != nil {
			return nil, u, err
		}
		u.Images = n
	case provider.OpSpeech:
		if in.Input == nil || *in.Input == "" {
			return nil, u, apierr.Invalid("input", "input: is required")
		}
		u.Characters = int64(utf8.RuneCountInString(*in.Input))
	case provider.OpOCR:
		d := in.Document
		switch {
		case d == nil:
			return nil, u, apierr.Invalid("document", "document: is required")
		case d.Type == "image_url" && d.ImageURL != "", d.Type == "document_url" && d.DocumentURL != "":
		default:
			return nil, u, apierr.Invalid("document", "document: must be {\"type\":\"image_url\",\"image_url\":...} or {\"type\":\"document_url\",\"document_url\":...}")
		}
		u.Pages = 1 // reserved; the answer says how many
	case provider.OpSegment:
		if in.Image == nil || *in.Image == "" {
			return nil, u, apierr.Invalid("image", "image: is required")
		}
		u.Images = 1
	}
	return &in, u, nil
}

func imageCount(n *int64) (int64, error) {
	if n == nil {
		return 1, nil
	}
	if *n < 1 || *n > maxImages {
		return 0, apierr.Invalid("n", "n: must be 1 to %d", maxImages)
	}
	return *n, nil
}

// media serves one media endpoint: the same authentication, scopes,
// limits, routing, failover and recording as chat, billed in the
// capability's unit.
func (s *Server) media(m mediaOp) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, rid string) (retErr error) {
		x, p, err := s.begin(w, r, rid, m.capability)
		if err != nil {
			return err
		}
		defer func() { retErr = x.end(retErr) }()
		if err := p.AllowPath(m.capability, r.URL.Path); err != nil {
			return err
		}
		if err := s.admit(); err != nil {
			return err
		}
		req := &provider.Request{Op: m.op, Capability: m.capability}
		var measured provider.Usage
		if m.multipart {
			up, err := spoolUpload(w, r, s.cfg.UploadDir, s.cfg.maxBytes(m.capability, true))
			if err != nil {
				return err
			}
			x.cleanup = up.Close
			x.body = up.summary()
			if measured, err = measureUpload(m.op, up); err != nil {
				return err
			}
			req.Upload, req.ClientModel = up, up.Field("model")
		} else {
			body, err := readBody(w, r, s.cfg.maxBytes(m.capability, false))
			if err != nil {
				return err
			}
			x.body = body
			in, u, err := decodeMedia(m.op, body)
			if err != nil {
				return err
			}
			req.Body, req.ClientModel, measured = body, in.Model, u
		}
		x.ev.Model = req.ClientModel
		if req.ClientModel == "" {
			return apierr.Invalid("model", "model: is required")
		}
		if err := p.AllowModel(req.ClientModel); err != nil {
			return err
		}
		targets := route.Resolve(x.state, req.ClientModel, m.capability, func(pv *fsm.Provider) bool {
			a := s.adapters[pv.Format]
			return a != nil && a.Supports(m.op) && p.AllowProvider(pv.Slug)
		})
		if len(targets) == 0 {
			return apierr.Newf(apierr.CodeModelNotFound, "the model %q does not exist for %s or is not available to this key", req.ClientModel, m.capability)
		}
		if s.limiter != nil {
			cost, _ := price(x.state, req.ClientModel, req.ClientModel, measured)
			t, err := s.limiter.Admit(r.Context(), quota.Request{Key: p.Key, Policy: p.Policy, Cost: cost})
			if err != nil {
				return limitError(err)
			}
			x.ticket = t
		}
		req.Measured = measured
		targets = s.plan(x.state, p, req.ClientModel, m.capability, targets)
		if !s.keepsImages(m.op, req) {
			x.res, x.attempts, err = s.call(r.Context(), p, targets, req, x.sink, x.start)
			if err == nil {
				x.res.Usage = billedUnits(m.op, x.res.Usage, measured)
			}
			return err
		}
		// Images answered as links: held back, stored here, and linked to
		// this gateway instead of the upstream's short-lived storage.
		held := &bufferedSink{}
		x.sink.hold = held
		x.res, x.attempts, err = s.call(r.Context(), p, targets, req, x.sink, x.start)
		x.sink.hold = nil
		if err != nil {
			return err
		}
		x.res.Usage = billedUnits(m.op, x.res.Usage, measured)
		out, err := s.storeImages(r.Context(), r, held.buf)
		if err != nil {
			return err
		}
		x.sink.Start(http.StatusOK, "application/json")
		_, err = x.sink.Write(out)
		return err
	}
}

// keepsImages reports whether an image call's answer is to be stored
// and linked: the gateway keeps images, and the client asked for links
// (url, OpenAI's default), not base64.
func (s *Server) keepsImages(op provider.Op, req *provider.Request) bool {
	if s.cfg.ImageDir == "" || (op != provider.OpImageGeneration && op != provider.OpImageEdit) {
		return false
	}
	format := ""
	if req.Upload != nil {
		format = req.Upload.Field("response_format")
	} else {
		var f struct {
			ResponseFormat string `json:"response_format"`
		}
		_ = json.Unmarshal(req.Body, &f)
		format = f.ResponseFormat
	}
	return format == "" || format == "url"
}

// measureUpload reads what a multipart request will use: the seconds of
// an audio file, measured from its bytes, or the images asked for.
func measureUpload(op provider.Op, up *upload) (provider.Usage, error) {
	var u provider.Usage
	switch op {
	case provider.OpTranscription:
		if len(up.files) == 0 {
			return u, apierr.Invalid("file", "file: an audio file is required")
		}
		f, _, _, err := up.File()
		if err != nil {
			return u, apierr.Invalid("file", "file: %v", err)
		}
		defer f.Close()
		if d, err := media.Duration(f); err == nil {
			u.Seconds = int64(math.Ceil(d.Seconds()))
		}
	case provider.OpImageEdit:
		if len(up.files) == 0 {
			return u, apierr.Invalid("image", "image: an image file is required")
		}
		if up.Field("prompt") == "" {
			return u, apierr.Invalid("prompt", "prompt: is required")
		}
		var n *int64
		if v := up.Field("n"); v != "" {
			var k int64
			if err := json.Unmarshal([]byte(v), &k); err != nil {
				return u, apierr.Invalid("n", "n: must be a number")
			}
			n = &k
		}
		k, err := imageCount(n)
		if err != nil {
			return u, err
		}
		u.Images = k
	}
	return u, nil
}

// billedUnits is what a media call is billed: the upstream's own figures
// where it states them, the gateway's measurements where it does not;
// speech always in the characters of its input.
func billedUnits(op provider.Op, got, measured provider.Usage) provider.Usage {
	switch op {
	case provider.OpSpeech:
		got.Characters = measured.Characters
	case provider.OpTranscription:
		if got.Seconds == 0 {
			got.Seconds = measured.Seconds
		}
	case provider.OpImageGeneration, provider.OpImageEdit, provider.OpSegment:
		if got.Images == 0 {
			got.Images = measured.Images
		}
	case provider.OpOCR:
		if got.Pages == 0 {
			got.Pages = measured.Pages
		}
	}
	return got
}
