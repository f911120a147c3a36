package gateway_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/mockupstream"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// mediaModels are the mock's models per capability.
var mediaModels = map[string]string{"image": "img-mock", "asr": "asr-mock", "tts": "tts-mock", "ocr": "ocr-mock", "vision-segment": "seg-mock"}

// withMedia adds a provider serving the five media capabilities from the
// env's OpenAI mock, and a price per unit for each model.
func (e *env) withMedia() {
	e.t.Helper()
	var models []string
	for _, m := range mediaModels {
		models = append(models, m)
	}
	e.apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Create: true, Provider: fsm.Provider{
		Slug: "mock-media", Name: "Mock media", Format: fsm.FormatOpenAI, BaseURL: e.oaURL, APIPath: "/v1/chat/completions",
		APIKeyCipher: e.sealer.Seal(secret.ProviderPurpose("mock-media"), []byte(openaiKey)),
		Models:       models, Capabilities: []string{"image", "asr", "tts", "ocr", "vision-segment"}, Enabled: true,
	}})
	for model, rates := range map[string]map[string]int64{
		"img-mock": {fsm.UnitImage: 200_000 * 1_000_000}, // 0.2 an image
		"asr-mock": {fsm.UnitSecond: 1_000 * 1_000_000},  // 0.001 a second
		"tts-mock": {fsm.UnitCharacter: 200 * 1_000_000}, // 0.0002 a character
		"ocr-mock": {fsm.UnitPage: 50_000 * 1_000_000},   // 0.05 a page
		"seg-mock": {fsm.UnitImage: 10_000 * 1_000_000},  // 0.01 an image
	} {
		e.apply(fsm.TypePriceUpsert, fsm.PriceUpsertBody{Price: fsm.Price{Model: model, Currency: "CNY", Rates: rates}})
	}
}

// wav is a 16-bit mono PCM WAV of the given seconds at 16 kHz.
func wav(seconds int) []byte {
	n := seconds * 16000 * 2
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(1))
	le(uint32(16000))
	le(uint32(32000))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(n))
	b.Write(make([]byte, n))
	return b.Bytes()
}

func TestImagesWithSDK(t *testing.T) {
	e := newEnv(t)
	e.withMedia()
	c := e.client(e.key)
	ctx := context.Background()
	res, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Model: "img-mock", Prompt: "a cat", N: openai.Int(2),
		ResponseFormat: openai.ImageGenerateParamsResponseFormatB64JSON})
	if err != nil || len(res.Data) != 2 || res.Data[0].B64JSON == "" {
		t.Fatalf("generate: %v %+v", err, res)
	}
	if ev := lastEvent(t, e); ev.Capability != "image" || ev.Usage.Images != 2 || ev.CostMicros != 400_000 || ev.Status != 200 {
		t.Fatalf("generation event %+v", ev)
	}
	edit, err := c.Images.Edit(ctx, openai.ImageEditParams{Model: "img-mock", Prompt: "a hat",
		Image: openai.ImageEditParamsImageUnion{OfFile: openai.File(bytes.NewReader([]byte("\x89PNG fake")), "cat.png", "image/png")}})
	if err != nil || len(edit.Data) != 1 {
		t.Fatalf("edit: %v %+v", err, edit)
	}
	ev := lastEvent(t, e)
	if ev.Usage.Images != 1 || ev.CostMicros != 200_000 || !strings.Contains(ev.RequestBody, `"prompt":"a hat"`) || strings.Contains(ev.RequestBody, "PNG fake") {
		t.Fatalf("edit event %+v", ev)
	}
}

func TestTranscriptionEveryFormat(t *testing.T) {
	e := newEnv(t)
	e.withMedia()
	c := e.client(e.key)
	audio := wav(7)
	for _, format := range []openai.AudioResponseFormat{openai.AudioResponseFormatJSON, openai.AudioResponseFormatText,
		openai.AudioResponseFormatSRT, openai.AudioResponseFormatVTT, openai.AudioResponseFormatVerboseJSON} {
		var raw []byte
		_, err := c.Audio.Transcriptions.New(context.Background(), openai.AudioTranscriptionNewParams{Model: "asr-mock",
			File: openai.File(bytes.NewReader(audio), "hello.wav", "audio/wav"), ResponseFormat: format}, option.WithResponseBodyInto(&raw))
		if err != nil || !strings.Contains(string(raw), "mock transcriber") {
			t.Fatalf("%s: %v %s", format, err, raw)
		}
		// No usage from the upstream: the 7 s are measured from the WAV.
		if ev := lastEvent(t, e); ev.Usage.Seconds != 7 || ev.CostMicros != 7_000 || ev.Capability != "asr" {
			t.Fatalf("%s: event %+v", format, ev)
		}
	}
	if n := e.oa.UploadedBytes(); n != int64(len(audio)) {
		t.Fatalf("the upstream got %d bytes of a %d-byte file", n, len(audio))
	}
	// The upstream's own figure wins when it gives one.
	e.oa.Set(mockupstream.Behavior{AudioSeconds: 9.2})
	if _, err := c.Audio.Transcriptions.New(context.Background(), openai.AudioTranscriptionNewParams{Model: "asr-mock",
		File: openai.File(bytes.NewReader(audio), "hello.wav", "audio/wav")}); err != nil {
		t.Fatal(err)
	}
	if ev := lastEvent(t, e); ev.Usage.Seconds != 10 {
		t.Fatalf("upstream usage of 9.2 s billed as %d s", ev.Usage.Seconds)
	}
}

func TestSpeechStreamsToAFile(t *testing.T) {
	e := newEnv(t)
	e.withMedia()
	c := e.client(e.key)
	input := "你好，世界！Hello" // 11 code points, 23 bytes
	res, err := c.Audio.Speech.New(context.Background(), openai.AudioSpeechNewParams{Model: "tts-mock", Input: input,
		Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("alloy")}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := filepath.Join(t.TempDir(), "speech.mp3")
	f, _ := os.Create(out)
	n, err := io.Copy(f, res.Body)
	f.Close()
	if err != nil || n != mockupstream.SpeechBytes || res.Header.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("speech: %d bytes, %v, %q", n, err, res.Header.Get("Content-Type"))
	}
	ev := lastEvent(t, e)
	if ev.Usage.Characters != 11 || ev.CostMicros != 2_200 || ev.ResponseBody != "[audio/mpeg, 65536 bytes]" {
		t.Fatalf("speech event %+v", ev)
	}
}

func TestOCRSegmentAndScopes(t *testing.T) {
	e := newEnv(t)
	e.withMedia()
	e.oa.Set(mockupstream.Behavior{Pages: 3})
	res := e.post("/v1/ocr", e.key, `{"model":"ocr-mock","document":{"type":"document_url","document_url":"data:application/pdf;base64,JVBERi0="}}`)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"pages"`) {
		t.Fatalf("ocr: %d %s", res.StatusCode, body)
	}
	if ev := lastEvent(t, e); ev.Usage.Pages != 3 || ev.CostMicros != 150_000 {
		t.Fatalf("ocr event %+v", ev)
	}
	res = e.post("/v1/vision/segment", e.key, `{"model":"seg-mock","image":"data:image/png;base64,iVBORw0KGgo="}`)
	body, _ = io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"segments"`) {
		t.Fatalf("segment: %d %s", res.StatusCode, body)
	}
	if ev := lastEvent(t, e); ev.Usage.Images != 1 || ev.CostMicros != 10_000 || ev.Capability != "vision-segment" {
		t.Fatalf("segment event %+v", ev)
	}
	// A key scoped to asr may not make images; bad bodies name their field.
	asrKey, _ := e.addKey(func(k *fsm.Key) { k.Scopes = []string{"asr"} })
	for _, tc := range []struct {
		path, key, body string
		status          int
		param           string
	}{
		{"/v1/images/generations", asrKey, `{"model":"img-mock","prompt":"x"}`, 403, ""},
		{"/v1/images/generations", e.key, `{"model":"img-mock"}`, 400, "prompt"},
		{"/v1/images/generations", e.key, `{"model":"img-mock","prompt":"x","n":11}`, 400, "n"},
		{"/v1/audio/speech", e.key, `{"model":"tts-mock","input":""}`, 400, "input"},
		{"/v1/ocr", e.key, `{"model":"ocr-mock","document":{"type":"pdf"}}`, 400, "document"},
		{"/v1/vision/segment", e.key, `{"model":"seg-mock"}`, 400, "image"},
		{"/v1/ocr", e.key, `{"model":"gpt-mock","document":{"type":"image_url","image_url":"http://x"}}`, 404, ""},
	} {
		res := e.post(tc.path, tc.key, tc.body)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != tc.status || (tc.param != "" && !strings.Contains(string(body), `"param":"`+tc.param+`"`)) {
			t.Errorf("%s %s: %d %s", tc.path, tc.body, res.StatusCode, body)
		}
	}
	// Multipart endpoints take multipart only, within the upload limit.
	req, _ := http.NewRequest("POST", e.gw.URL+"/v1/audio/transcriptions", strings.NewReader(`{"model":"asr-mock"}`))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 400 {
		t.Fatalf("json to a multipart endpoint: %v %d", err, res.StatusCode)
	}
}

func TestUploadOverTheLimitIs413(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxUploadBytes = 1 << 20 })
	e.withMedia()
	c := e.client(e.key)
	_, err := c.Audio.Transcriptions.New(context.Background(), openai.AudioTranscriptionNewParams{Model: "asr-mock",
		File: openai.File(bytes.NewReader(wav(40)), "long.wav", "audio/wav")})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 413 || apiErr.Code != "request_too_large" {
		t.Fatalf("a 1.3 MB upload over a 1 MB limit: %v", err)
	}
	// A capability's own limit wins over the general ones.
	e = newEnv(t, func(c *gateway.Config) { c.CapabilityMaxBytes = map[string]int64{"tts": 100, "asr": 4 << 20} })
	e.withMedia()
	res := e.post("/v1/audio/speech", e.key, `{"model":"tts-mock","voice":"alloy","input":"`+strings.Repeat("long ", 30)+`"}`)
	if res.StatusCode != 413 {
		t.Fatalf("speech over its 100-byte limit: %d", res.StatusCode)
	}
	c = e.client(e.key)
	if _, err := c.Audio.Transcriptions.New(context.Background(), openai.AudioTranscriptionNewParams{Model: "asr-mock",
		File: openai.File(bytes.NewReader(wav(40)), "long.wav", "audio/wav")}); err != nil {
		t.Fatalf("a 1.3 MB upload under asr's own 4 MB limit: %v", err)
	}
}

func TestImageLinksAreStoredAndSigned(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, func(c *gateway.Config) {
		c.ImageDir, c.ImageURLKey, c.ImageURLTTL = dir, []byte("image-link-key-0123456789"), time.Hour
	})
	e.withMedia()
	c := e.client(e.key)
	res, err := c.Images.Generate(context.Background(), openai.ImageGenerateParams{Model: "img-mock", Prompt: "a cat", N: openai.Int(2)})
	if err != nil || len(res.Data) != 2 || res.Data[0].B64JSON != "" {
		t.Fatalf("generate: %v %+v", err, res)
	}
	link := res.Data[0].URL
	if !strings.HasPrefix(link, e.gw.URL+"/v1/files/images/test-node/") || !strings.Contains(link, "signature=") {
		t.Fatalf("link %q", link)
	}
	if files, _ := os.ReadDir(dir); len(files) != 2 {
		t.Fatalf("%d images stored, want 2", len(files))
	}
	get := func(u string) (int, []byte) {
		r, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, b
	}
	if code, b := get(link); code != 200 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("link answered %d %q", code, b)
	}
	// A changed signature, file or expiry is refused.
	for _, bad := range []string{
		strings.Replace(link, "signature=", "signature=0", 1),
		strings.Replace(link, "expires=", "expires=9", 1),
		strings.Replace(link, "/test-node/", "/other-node/", 1),
	} {
		if code, _ := get(bad); code != 403 {
			t.Errorf("%s: %d, want 403", bad, code)
		}
	}
	// The client asked for base64: nothing is stored.
	if _, err := c.Images.Generate(context.Background(), openai.ImageGenerateParams{Model: "img-mock", Prompt: "a cat",
		ResponseFormat: openai.ImageGenerateParamsResponseFormatB64JSON}); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 2 {
		t.Fatalf("%d images stored after a b64_json call", len(files))
	}
}

func TestMediaCallsSpendBudgets(t *testing.T) {
	e := newEnv(t)
	e.withLimiter()
	e.withMedia()
	// 0.3 CNY: one image at 0.2 fits, a second does not.
	key, _ := e.addKey(func(k *fsm.Key) { k.Limits = fsm.Limits{Budget: 300_000, BudgetPeriod: fsm.PeriodTotal} })
	for i, want := range []int{200, 429} {
		res := e.post("/v1/images/generations", key, `{"model":"img-mock","prompt":"a cat","response_format":"b64_json"}`)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != want || (want == 429 && !strings.Contains(string(body), "insufficient_quota")) {
			t.Fatalf("call %d: %d %s", i, res.StatusCode, body)
		}
	}
	if n := e.oa.Requests(); n != 1 {
		t.Fatalf("the refused call reached the upstream: %d calls", n)
	}
}
