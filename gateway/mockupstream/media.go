package mockupstream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// pngPixel is a 1x1 PNG, the mock's every image.
var pngPixel, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

// SpeechBytes is the size of the mock's speech answer; it is sent in
// chunks, as a real TTS service streams.
const SpeechBytes = 64 << 10

func (s *Server) mediaRoutes() {
	s.mux.HandleFunc("POST /v1/images/generations", s.imagesJSON)
	s.mux.HandleFunc("POST /v1/images/edits", s.multipartCall)
	s.mux.HandleFunc("POST /v1/audio/transcriptions", s.multipartCall)
	s.mux.HandleFunc("POST /v1/audio/speech", s.speech)
	s.mux.HandleFunc("POST /v1/ocr", s.ocr)
	s.mux.HandleFunc("POST /v1/vision/segment", s.segment)
}

func (s *Server) imagesJSON(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	var req struct {
		Model          string `json:"model"`
		N              int    `json:"n"`
		ResponseFormat string `json:"response_format"`
	}
	body, _ := io.ReadAll(r.Body)
	if json.Unmarshal(body, &req) != nil || req.Model == "" {
		badRequest(w, false, "mock: body must be JSON with a model")
		return
	}
	if _, ok := s.begin(w, r, body, false); !ok {
		return
	}
	writeJSON(w, imagesAnswer(r.Host, max(1, req.N), req.ResponseFormat))
}

// imagesAnswer lists n images, as base64 or as links to the mock's own
// /files, as a provider's storage would serve them.
func imagesAnswer(host string, n int, format string) map[string]any {
	data := make([]any, n)
	for i := range data {
		if format == "b64_json" {
			data[i] = map[string]any{"b64_json": base64.StdEncoding.EncodeToString(pngPixel)}
		} else {
			data[i] = map[string]any{"url": fmt.Sprintf("http://%s/files/image-%d.png", host, i)}
		}
	}
	return map[string]any{"created": time.Now().Unix(), "data": data}
}

// multipartCall serves image edits and transcriptions: it reads every
// part (counting the file bytes it saw) and answers in the asked format.
func (s *Server) multipartCall(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		badRequest(w, false, "mock: multipart/form-data expected")
		return
	}
	fields := map[string]string{}
	var fileBytes int64
	var fileCount int
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			badRequest(w, false, "mock: bad multipart: "+err.Error())
			return
		}
		if p.FileName() != "" {
			n, _ := io.Copy(io.Discard, p)
			fileBytes += n
			fileCount++
			continue
		}
		v, _ := io.ReadAll(p)
		fields[p.FormName()] = string(v)
	}
	s.mediaSeen.Store(fileBytes)
	rec, _ := json.Marshal(fields)
	if _, ok := s.begin(w, r, rec, false); !ok {
		return
	}
	if fields["model"] == "" || fileCount == 0 {
		badRequest(w, false, "mock: model and a file are required")
		return
	}
	if strings.HasSuffix(r.URL.Path, "/images/edits") {
		n, _ := strconv.Atoi(fields["n"])
		writeJSON(w, imagesAnswer(r.Host, max(1, n), fields["response_format"]))
		return
	}
	text := "Hello from the mock transcriber."
	secs := s.behavior().AudioSeconds
	switch fields["response_format"] {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, text+"\n")
	case "srt":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "1\n00:00:00,000 --> 00:00:02,000\n%s\n\n", text)
	case "vtt":
		w.Header().Set("Content-Type", "text/vtt; charset=utf-8")
		fmt.Fprintf(w, "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n%s\n\n", text)
	case "verbose_json":
		writeJSON(w, map[string]any{"task": "transcribe", "language": "english", "duration": secs, "text": text,
			"segments": []any{map[string]any{"id": 0, "start": 0, "end": secs, "text": text}}})
	default:
		resp := map[string]any{"text": text}
		if secs > 0 {
			resp["usage"] = map[string]any{"type": "duration", "seconds": secs}
		}
		writeJSON(w, resp)
	}
}

// speech streams SpeechBytes of fake MP3 in chunks.
func (s *Server) speech(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model string `json:"model"`
		Input string `json:"input"`
	}
	if json.Unmarshal(body, &req) != nil || req.Model == "" || req.Input == "" {
		badRequest(w, false, "mock: model and input are required")
		return
	}
	b, ok := s.begin(w, r, body, false)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "audio/mpeg")
	chunk := bytes.Repeat([]byte{0xFF}, 8<<10)
	for sent := 0; sent < SpeechBytes; sent += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		if b.ChunkDelay > 0 {
			time.Sleep(b.ChunkDelay)
		}
	}
}

func (s *Server) ocr(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model string `json:"model"`
	}
	if json.Unmarshal(body, &req) != nil || req.Model == "" {
		badRequest(w, false, "mock: model is required")
		return
	}
	b, ok := s.begin(w, r, body, false)
	if !ok {
		return
	}
	pages := max(1, b.Pages)
	out := make([]any, pages)
	for i := range out {
		out[i] = map[string]any{"index": i, "markdown": fmt.Sprintf("# Page %d\n\nMock text.", i+1)}
	}
	writeJSON(w, map[string]any{"model": req.Model, "pages": out, "usage": map[string]any{"pages": pages}})
}

func (s *Server) segment(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model string `json:"model"`
	}
	if json.Unmarshal(body, &req) != nil || req.Model == "" {
		badRequest(w, false, "mock: model is required")
		return
	}
	if _, ok := s.begin(w, r, body, false); !ok {
		return
	}
	writeJSON(w, map[string]any{"model": req.Model, "segments": []any{map[string]any{"label": "cat", "score": 0.97,
		"mask": base64.StdEncoding.EncodeToString(pngPixel), "bbox": []int{0, 0, 1, 1}}}, "usage": map[string]any{"images": 1}})
}
