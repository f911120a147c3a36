package mockupstream

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// DashScope's native shapes: the asynchronous image task API, qwen-tts's
// multimodal generation (which answers an audio URL), the files those
// point to, and compatible mode under /compatible-mode/v1.

// dashTasks are the image tasks submitted, by id: the polls left before
// the task succeeds, and its image count.
type dashTasks struct {
	mu    sync.Mutex
	next  int
	tasks map[string]*dashTask
}

type dashTask struct {
	pollsLeft int
	n         int
}

func (s *Server) dashscopeRoutes() {
	s.mux.HandleFunc("POST /api/v1/services/aigc/text2image/image-synthesis", s.dashImageSubmit)
	s.mux.HandleFunc("GET /api/v1/tasks/{id}", s.dashTask)
	s.mux.HandleFunc("POST /api/v1/services/aigc/multimodal-generation/generation", s.dashSpeech)
	s.mux.HandleFunc("GET /files/{name}", s.dashFile)
	s.mux.HandleFunc("POST /compatible-mode/v1/chat/completions", s.chat)
}

func dashError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg, "request_id": "mock"})
}

func (s *Server) dashImageSubmit(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("X-DashScope-Async") != "enable" {
		dashError(w, 400, "InvalidParameter", "current user api does not support synchronous calls")
		return
	}
	var req struct {
		Model string `json:"model"`
		Input struct {
			Prompt string `json:"prompt"`
		} `json:"input"`
		Parameters struct {
			N    int    `json:"n"`
			Size string `json:"size"`
		} `json:"parameters"`
	}
	if json.Unmarshal(body, &req) != nil || req.Model == "" || req.Input.Prompt == "" {
		dashError(w, 400, "InvalidParameter", "model and input.prompt are required")
		return
	}
	if req.Parameters.Size != "" && !strings.Contains(req.Parameters.Size, "*") {
		dashError(w, 400, "InvalidParameter", "size must look like 1024*1024")
		return
	}
	if _, ok := s.begin(w, r, body, false); !ok {
		return
	}
	s.dash.mu.Lock()
	if s.dash.tasks == nil {
		s.dash.tasks = map[string]*dashTask{}
	}
	s.dash.next++
	id := fmt.Sprintf("task-%d", s.dash.next)
	s.dash.tasks[id] = &dashTask{pollsLeft: 1, n: max(1, req.Parameters.N)}
	s.dash.mu.Unlock()
	writeJSON(w, map[string]any{"request_id": "mock", "output": map[string]string{"task_id": id, "task_status": "PENDING"}})
}

func (s *Server) dashTask(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.dash.mu.Lock()
	t := s.dash.tasks[id]
	status := "RUNNING"
	if t != nil {
		if t.pollsLeft > 0 {
			t.pollsLeft--
		} else {
			status = "SUCCEEDED"
		}
	}
	s.dash.mu.Unlock()
	if t == nil {
		dashError(w, 404, "NotFound", "no such task")
		return
	}
	out := map[string]any{"task_id": id, "task_status": status}
	resp := map[string]any{"request_id": "mock", "output": out}
	if status == "SUCCEEDED" {
		results := make([]any, t.n)
		for i := range results {
			results[i] = map[string]string{"url": fmt.Sprintf("http://%s/files/%s-%d.png", r.Host, id, i)}
		}
		out["results"] = results
		resp["usage"] = map[string]int{"image_count": t.n}
	}
	writeJSON(w, resp)
}

func (s *Server) dashSpeech(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model string `json:"model"`
		Input struct {
			Text  string `json:"text"`
			Voice string `json:"voice"`
		} `json:"input"`
	}
	if json.Unmarshal(body, &req) != nil || req.Model == "" || req.Input.Text == "" || req.Input.Voice == "" {
		dashError(w, 400, "InvalidParameter", "model, input.text and input.voice are required")
		return
	}
	if _, ok := s.begin(w, r, body, false); !ok {
		return
	}
	writeJSON(w, map[string]any{"request_id": "mock", "output": map[string]any{"finish_reason": "stop",
		"audio": map[string]any{"url": fmt.Sprintf("http://%s/files/speech.wav", r.Host), "expires_at": 0}}})
}

// dashFile serves what results point to: a PNG, or one second of WAV.
func (s *Server) dashFile(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.PathValue("name"), ".wav") {
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(oneSecondWAV())
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(pngPixel)
}

// oneSecondWAV is a second of 16 kHz mono 16-bit silence.
func oneSecondWAV() []byte {
	const n = 32000
	b := make([]byte, 44+n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], 36+n)
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], 16000)
	binary.LittleEndian.PutUint32(b[28:], 32000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], n)
	return b
}

// mediaChat answers the compatible-mode chats DashScope's ASR and OCR
// models take: an input_audio part (its decoded size is kept for
// UploadedBytes) or an image_url part. It reports false for other chats.
func (s *Server) mediaChat(w http.ResponseWriter, model string, messages json.RawMessage, b Behavior) bool {
	var msgs []struct {
		Content []struct {
			Type       string `json:"type"`
			InputAudio struct {
				Data string `json:"data"`
			} `json:"input_audio"`
			ImageURL struct {
				URL string `json:"url"`
			} `json:"image_url"`
		} `json:"content"`
	}
	if json.Unmarshal(messages, &msgs) != nil || len(msgs) == 0 {
		return false
	}
	for _, p := range msgs[0].Content {
		var text string
		u := map[string]any{"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18}
		switch p.Type {
		case "input_audio":
			_, data, ok := strings.Cut(p.InputAudio.Data, ";base64,")
			if !ok {
				dashError(w, 400, "InvalidParameter", "input_audio.data must be a base64 data URL")
				return true
			}
			s.mediaSeen.Store(int64(base64.StdEncoding.DecodedLen(len(data)) - strings.Count(data[max(0, len(data)-2):], "=")))
			text = "Hello from the mock transcriber."
			if b.AudioSeconds > 0 {
				u["seconds"] = b.AudioSeconds
			}
		case "image_url":
			text = "# Page 1\n\nMock text."
		default:
			continue
		}
		writeJSON(w, map[string]any{"id": "chatcmpl-mock", "object": "chat.completion", "model": model, "usage": u,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}}})
		return true
	}
	return false
}
