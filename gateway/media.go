package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"unicode/utf8"

	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/media"
	"github.com/tensorgate/tensorgate/gateway/provider"
)

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
	keys := scanTopKeys(body)
	if err := noDuplicateKeys(&keys); err != nil {
		return nil, provider.Usage{}, err
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
