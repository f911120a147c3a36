package dashscope

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/gateway/provider"
)

// image submits an image synthesis task, polls it with backoff for at
// most TaskWait, and answers in the OpenAI images shape: the result URLs,
// or their bytes in base64 when the client asked for b64_json.
func (a *Adapter) image(ctx context.Context, ep provider.Endpoint, req *provider.Request, sink provider.Sink) (provider.Result, error) {
	var in struct {
		Prompt         string `json:"prompt"`
		NegativePrompt string `json:"negative_prompt"`
		N              int    `json:"n"`
		Size           string `json:"size"`
		ResponseFormat string `json:"response_format"`
	}
	if err := mediaBody(ep, req, &in); err != nil {
		return provider.Result{}, err
	}
	params := map[string]any{"n": max(1, in.N)}
	if in.Size != "" {
		params["size"] = strings.Replace(in.Size, "x", "*", 1) // 1024x1024 -> 1024*1024
	}
	input := map[string]any{"prompt": in.Prompt}
	if in.NegativePrompt != "" {
		input["negative_prompt"] = in.NegativePrompt
	}
	start := time.Now()
	res, err := a.send(ctx, ep, http.MethodPost, origin(ep.BaseURL)+pathImageSynthesis,
		jsonReader(map[string]any{"model": req.Model, "input": input, "parameters": params}), map[string]string{"X-DashScope-Async": "enable"})
	if err != nil {
		return provider.Result{}, err
	}
	ttfb := time.Since(start)
	var submitted struct {
		Output struct {
			TaskID string `json:"task_id"`
		} `json:"output"`
	}
	if err := readJSON(ep, res, &submitted); err != nil {
		return provider.Result{TTFB: ttfb}, err
	}
	if submitted.Output.TaskID == "" {
		return provider.Result{TTFB: ttfb}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "the task submission returned no task id"}
	}
	task, err := a.wait(ctx, ep, submitted.Output.TaskID)
	if err != nil {
		return provider.Result{TTFB: ttfb}, err
	}
	data := make([]map[string]string, 0, len(task.Output.Results))
	for _, r := range task.Output.Results {
		if r.URL == "" {
			continue
		}
		if in.ResponseFormat == "b64_json" {
			b, err := a.fetch(ctx, ep, r.URL, 32<<20)
			if err != nil {
				return provider.Result{TTFB: ttfb}, err
			}
			data = append(data, map[string]string{"b64_json": base64.StdEncoding.EncodeToString(b)})
		} else {
			data = append(data, map[string]string{"url": r.URL})
		}
	}
	if len(data) == 0 {
		return provider.Result{TTFB: ttfb}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassStatus, Message: "the image task produced no image"}
	}
	n := max(task.Usage.ImageCount, int64(len(data)))
	err = writeJSON(sink, map[string]any{"created": time.Now().Unix(), "data": data})
	return provider.Result{Usage: provider.Usage{Images: n}, TTFB: ttfb}, err
}

type task struct {
	Output struct {
		TaskStatus string `json:"task_status"`
		Results    []struct {
			URL string `json:"url"`
		} `json:"results"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"output"`
	Usage struct {
		ImageCount int64 `json:"image_count"`
	} `json:"usage"`
}

// wait polls a task until it ends, backing off from PollMin to PollMax.
func (a *Adapter) wait(ctx context.Context, ep provider.Endpoint, id string) (*task, error) {
	deadline := time.Now().Add(a.TaskWait)
	pause := a.PollMin
	for {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassCanceled, Message: "client went away", Err: ctx.Err()}
		case <-t.C:
		}
		res, err := a.send(ctx, ep, http.MethodGet, origin(ep.BaseURL)+pathTasks+id, nil, nil)
		if err != nil {
			return nil, err
		}
		var tk task
		if err := readJSON(ep, res, &tk); err != nil {
			return nil, err
		}
		switch tk.Output.TaskStatus {
		case "SUCCEEDED":
			return &tk, nil
		case "FAILED", "CANCELED", "UNKNOWN":
			return nil, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassStatus, Code: tk.Output.Code,
				Message: fmt.Sprintf("image task %s %s: %s", id, strings.ToLower(tk.Output.TaskStatus), tk.Output.Message)}
		}
		if time.Now().After(deadline) {
			return nil, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassTimeout,
				Message: fmt.Sprintf("image task %s did not finish within %v", id, a.TaskWait)}
		}
		pause = min(pause*3/2, a.PollMax)
	}
}

// fetch downloads a result DashScope points to, bounded.
func (a *Adapter) fetch(ctx context.Context, ep provider.Endpoint, u string, limit int64) ([]byte, error) {
	res, err := a.get(ctx, ep, u)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil || int64(len(b)) > limit {
		return nil, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassBroken, Message: "could not download the result", Err: err}
	}
	return b, nil
}

// get fetches a result URL (a signed object-store link: no key sent).
func (a *Adapter) get(ctx context.Context, ep provider.Endpoint, u string) (*provider.Response, error) {
	hreq, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "the result URL is not valid", Err: err}
	}
	res, err := a.HTTP.Send(ctx, ep.Provider, hreq, true)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		res.Close()
		return nil, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassStatus, Status: res.StatusCode, Message: "downloading the result failed"}
	}
	return res, nil
}

// speak asks qwen-tts for speech, then streams the audio it points to.
func (a *Adapter) speak(ctx context.Context, ep provider.Endpoint, req *provider.Request, sink provider.Sink) (provider.Result, error) {
	var in struct {
		Input string `json:"input"`
		Voice any    `json:"voice"`
	}
	if err := mediaBody(ep, req, &in); err != nil {
		return provider.Result{}, err
	}
	voice, _ := in.Voice.(string)
	if voice == "" {
		voice = "Cherry"
	}
	start := time.Now()
	res, err := a.send(ctx, ep, http.MethodPost, origin(ep.BaseURL)+pathMultimodal,
		jsonReader(map[string]any{"model": req.Model, "input": map[string]string{"text": in.Input, "voice": voice}}), nil)
	if err != nil {
		return provider.Result{}, err
	}
	var out struct {
		Output struct {
			Audio struct {
				URL string `json:"url"`
			} `json:"audio"`
		} `json:"output"`
	}
	if err := readJSON(ep, res, &out); err != nil {
		return provider.Result{}, err
	}
	if out.Output.Audio.URL == "" {
		return provider.Result{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassProtocol, Message: "the speech answer has no audio URL"}
	}
	audio, err := a.get(ctx, ep, out.Output.Audio.URL)
	if err != nil {
		return provider.Result{}, err
	}
	defer audio.Close()
	ttfb := time.Since(start)
	ct := audio.Header.Get("Content-Type")
	if ct == "" || ct == "application/octet-stream" {
		ct = "audio/wav"
	}
	err = provider.CopyBinary(sink, audio.Body, ct)
	if ue, ok := err.(*provider.UpstreamError); ok && ue.Provider == "" {
		ue.Provider = ep.Provider
	}
	return provider.Result{TTFB: ttfb}, err
}

// transcribe sends the audio to qwen3-asr-flash as an input_audio part of
// a compatible-mode chat, base64-encoded as it streams (never whole in
// memory), and shapes the text into the asked response format.
func (a *Adapter) transcribe(ctx context.Context, ep provider.Endpoint, req *provider.Request, sink provider.Sink) (provider.Result, error) {
	if req.Upload == nil {
		return provider.Result{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassClientErr, Status: 400, Message: "no audio"}
	}
	f, _, ct, err := req.Upload.File()
	if err != nil {
		return provider.Result{}, &provider.UpstreamError{Provider: ep.Provider, Class: provider.ClassClientErr, Status: 400, Message: err.Error()}
	}
	defer f.Close()
	if ct == "" || ct == "application/octet-stream" {
		ct = "audio/wav"
	}
	pr, pw := io.Pipe()
	go func() {
		// {"model":...,"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"data:<ct>;base64,...."}}]}]}
		model, _ := json.Marshal(req.Model)
		head := `{"model":` + string(model) + `,"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"data:` + ct + `;base64,`
		if _, err := io.WriteString(pw, head); err != nil {
			pw.CloseWithError(err)
			return
		}
		enc := base64.NewEncoder(base64.StdEncoding, pw)
		if _, err := io.Copy(enc, f); err != nil {
			pw.CloseWithError(err)
			return
		}
		if err := enc.Close(); err != nil {
			pw.CloseWithError(err)
			return
		}
		_, err := io.WriteString(pw, `"}}]}],"stream":false}`)
		pw.CloseWithError(err)
	}()
	start := time.Now()
	text, usage, err := a.chat(ctx, ep, pr)
	pr.Close()
	if err != nil {
		return provider.Result{}, err
	}
	ttfb := time.Since(start)
	secs := usage.Seconds
	if secs == 0 {
		secs = float64(req.Measured.Seconds)
	}
	u := provider.Usage{Seconds: int64(math.Ceil(usage.Seconds))}
	return provider.Result{Usage: u, TTFB: ttfb}, writeTranscript(sink, req.Upload.Field("response_format"), text, secs)
}

// writeTranscript answers a transcription in the OpenAI formats; srt and
// vtt get one cue over the whole audio.
func writeTranscript(sink provider.Sink, format, text string, secs float64) error {
	cue := func(sep string) string {
		d := time.Duration(secs * float64(time.Second))
		h, m, s, ms := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60, int(d.Milliseconds())%1000
		return fmt.Sprintf("00:00:00%s000 --> %02d:%02d:%02d%s%03d", sep, h, m, s, sep, ms)
	}
	switch format {
	case "text":
		sink.Start(http.StatusOK, "text/plain; charset=utf-8")
		_, err := io.WriteString(sink, text+"\n")
		return err
	case "srt":
		sink.Start(http.StatusOK, "text/plain; charset=utf-8")
		_, err := fmt.Fprintf(sink, "1\n%s\n%s\n\n", cue(","), text)
		return err
	case "vtt":
		sink.Start(http.StatusOK, "text/vtt; charset=utf-8")
		_, err := fmt.Fprintf(sink, "WEBVTT\n\n%s\n%s\n\n", cue("."), text)
		return err
	case "verbose_json":
		return writeJSON(sink, map[string]any{"task": "transcribe", "duration": secs, "text": text,
			"segments": []any{map[string]any{"id": 0, "start": 0, "end": secs, "text": text}}})
	}
	return writeJSON(sink, map[string]any{"text": text, "usage": map[string]any{"type": "duration", "seconds": int64(math.Ceil(secs))}})
}

// ocrPrompt asks qwen-vl-ocr for the page's text as Markdown.
const ocrPrompt = "Read all the text in this image and answer with it as Markdown, keeping headings, lists and tables."

// ocr reads a document image with qwen-vl-ocr through compatible-mode
// chat and answers the contract's pages.
func (a *Adapter) ocr(ctx context.Context, ep provider.Endpoint, req *provider.Request, sink provider.Sink) (provider.Result, error) {
	var in struct {
		Document struct {
			Type        string `json:"type"`
			ImageURL    string `json:"image_url"`
			DocumentURL string `json:"document_url"`
		} `json:"document"`
	}
	if err := mediaBody(ep, req, &in); err != nil {
		return provider.Result{}, err
	}
	src := in.Document.ImageURL
	if in.Document.Type == "document_url" {
		src = in.Document.DocumentURL
	}
	body := map[string]any{"model": req.Model, "messages": []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "image_url", "image_url": map[string]string{"url": src}},
		map[string]any{"type": "text", "text": ocrPrompt},
	}}}}
	start := time.Now()
	text, _, err := a.chat(ctx, ep, jsonReader(body))
	if err != nil {
		return provider.Result{}, err
	}
	err = writeJSON(sink, map[string]any{"model": clientModel(req), "pages": []any{map[string]any{"index": 0, "markdown": text}},
		"usage": map[string]int64{"pages": 1}})
	return provider.Result{Usage: provider.Usage{Pages: 1}, TTFB: time.Since(start)}, err
}
