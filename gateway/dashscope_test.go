package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// withDashScope adds a DashScope-format provider on the env's mock, the
// way 阿里云百炼 is configured: compatible mode under /compatible-mode.
func (e *env) withDashScope() {
	e.t.Helper()
	e.apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Create: true, Provider: fsm.Provider{
		Slug: "bailian", Name: "阿里云百炼", Format: fsm.FormatDashScope, BaseURL: e.oaURL + "/compatible-mode", APIPath: "/v1/chat/completions",
		APIKeyCipher: e.sealer.Seal(secret.ProviderPurpose("bailian"), []byte(openaiKey)),
		Models:       []string{"qwen-plus", "wanx2.1-t2i-turbo", "qwen3-asr-flash", "qwen-tts", "qwen-vl-ocr"},
		Capabilities: []string{"llm", "image", "asr", "tts", "ocr"}, Enabled: true,
	}})
}

func TestDashScopeNativeAPIs(t *testing.T) {
	e := newEnv(t)
	e.withDashScope()
	c := e.client(e.key)
	ctx := context.Background()

	// Chat goes through compatible mode.
	chat, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "qwen-plus",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil || chat.Choices[0].Message.Content == "" {
		t.Fatalf("chat: %v", err)
	}

	// Images: a task submitted, polled, and its results answered.
	img, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Model: "wanx2.1-t2i-turbo", Prompt: "a cat", N: openai.Int(2), Size: "1024x1024"})
	if err != nil || len(img.Data) != 2 || !strings.Contains(img.Data[0].URL, "/files/task-") {
		t.Fatalf("image urls: %v %+v", err, img)
	}
	if ev := lastEvent(t, e); ev.Usage.Images != 2 || ev.Provider != "bailian" {
		t.Fatalf("image event %+v", ev)
	}
	img, err = c.Images.Generate(ctx, openai.ImageGenerateParams{Model: "wanx2.1-t2i-turbo", Prompt: "a cat",
		ResponseFormat: openai.ImageGenerateParamsResponseFormatB64JSON})
	if err != nil || len(img.Data) != 1 {
		t.Fatalf("image b64: %v", err)
	}
	if png, _ := base64.StdEncoding.DecodeString(img.Data[0].B64JSON); !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("b64_json is not the image: %q", img.Data[0].B64JSON)
	}

	// Transcription: the audio goes as a base64 input_audio part, whole.
	audio := wav(7)
	var srt []byte
	if _, err := c.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{Model: "qwen3-asr-flash",
		File: openai.File(bytes.NewReader(audio), "a.wav", "audio/wav"), ResponseFormat: openai.AudioResponseFormatSRT},
		option.WithResponseBodyInto(&srt)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(srt), "00:00:00,000 --> 00:00:07,000\nHello from the mock transcriber.") {
		t.Fatalf("srt %q", srt)
	}
	if n := e.oa.UploadedBytes(); n != int64(len(audio)) {
		t.Fatalf("DashScope got %d bytes of audio, want %d", n, len(audio))
	}
	if ev := lastEvent(t, e); ev.Usage.Seconds != 7 || ev.Capability != "asr" {
		t.Fatalf("asr event %+v", ev)
	}

	// Speech: the audio qwen-tts points to, streamed back.
	res, err := c.Audio.Speech.New(ctx, openai.AudioSpeechNewParams{Model: "qwen-tts", Input: "你好",
		Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("Cherry")}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if len(b) != 44+32000 || res.Header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("speech: %d bytes of %q", len(b), res.Header.Get("Content-Type"))
	}
	if ev := lastEvent(t, e); ev.Usage.Characters != 2 {
		t.Fatalf("speech event %+v", ev)
	}

	// OCR: qwen-vl-ocr's text shaped into pages.
	r := e.post("/v1/ocr", e.key, `{"model":"qwen-vl-ocr","document":{"type":"image_url","image_url":"data:image/png;base64,iVBORw0KGgo="}}`)
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || !strings.Contains(string(body), `"markdown":"# Page 1`) || !strings.Contains(string(body), `"model":"qwen-vl-ocr"`) {
		t.Fatalf("ocr: %d %s", r.StatusCode, body)
	}
	if ev := lastEvent(t, e); ev.Usage.Pages != 1 {
		t.Fatalf("ocr event %+v", ev)
	}
}
