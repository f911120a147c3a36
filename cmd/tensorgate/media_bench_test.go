package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tensorgate/tensorgate/gateway/mockupstream"
)

// BenchmarkRSSTenUploads sends ten 20 MB audio files through a real node
// at once and reports how much its resident memory grew per upload (goal:
// a few MB: uploads spool to disk and stream to the upstream):
//
//	go test ./cmd/tensorgate -run '^$' -bench RSSTenUploads -benchtime 1x
func BenchmarkRSSTenUploads(b *testing.B) {
	const uploads, size = 10, 20 << 20
	mock := mockupstream.New(mockupstream.Behavior{})
	up := httptest.NewServer(mock)
	defer up.Close()
	p := startProc(b, b.TempDir(), "BETTER_AUTH_SECRET=rss-benchmark-secret-0123")
	tok := p.login("ai-gateway-admin-2026")
	if code, m := p.call("POST", "/api/admin/providers", tok, map[string]any{"name": "Mock", "slug": "mock", "base_url": up.URL,
		"models": "asr-mock", "capabilities": []string{"asr"}}); code != 201 {
		b.Fatalf("provider: %d %v", code, m)
	}
	_, key := p.call("POST", "/api/admin/keys", tok, map[string]any{"name": "rss"})
	secret := key["key"].(string)
	// One multipart body, built once: a 20 MB 16 kHz mono WAV.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("model", "asr-mock")
	fw, _ := mw.CreateFormFile("file", "long.wav")
	pcm := size - 44
	hdr := make([]byte, 44)
	copy(hdr, "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(36+pcm))
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)
	binary.LittleEndian.PutUint16(hdr[20:], 1)
	binary.LittleEndian.PutUint16(hdr[22:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], 16000)
	binary.LittleEndian.PutUint32(hdr[28:], 32000)
	binary.LittleEndian.PutUint16(hdr[32:], 2)
	binary.LittleEndian.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], uint32(pcm))
	fw.Write(hdr)
	fw.Write(make([]byte, pcm))
	mw.Close()
	payload := body.Bytes()

	idle := rssKB(b, p.cmd.Process.Pid, "VmHWM")
	for range b.N {
		var wg sync.WaitGroup
		errs := make(chan error, uploads)
		for range uploads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", p.url("/v1/audio/transcriptions"), bytes.NewReader(payload))
				req.Header.Set("Authorization", "Bearer "+secret)
				req.Header.Set("Content-Type", mw.FormDataContentType())
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				out, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					errs <- fmt.Errorf("%d %s", res.StatusCode, out)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		if got := mock.UploadedBytes(); got != size {
			b.Fatalf("the upstream got %d bytes of a %d-byte file", got, size)
		}
	}
	peak := rssKB(b, p.cmd.Process.Pid, "VmHWM")
	b.ReportMetric(float64(idle)/1024, "idle-peak-MB")
	b.ReportMetric(float64(peak)/1024, "peak-MB")
	b.ReportMetric(float64(peak-idle)/1024/uploads, "MB/upload")
	b.ReportMetric(0, "ns/op")
}
