package provider

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSendClassifiesFailures(t *testing.T) {
	slowHeaders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slowHeaders.Close()
	stallsMidBody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Write([]byte("first"))
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer stallsMidBody.Close()

	h := &HTTP{Client: &http.Client{Transport: NewTransport()}, FirstByte: 100 * time.Millisecond, Response: 100 * time.Millisecond, Idle: 100 * time.Millisecond}
	send := func(ctx context.Context, url string) (*Response, error) {
		req, _ := http.NewRequest("POST", url, nil)
		return h.Send(ctx, "p", req, true)
	}
	class := func(err error) string {
		var ue *UpstreamError
		if errors.As(err, &ue) {
			return ue.Class
		}
		return "not an UpstreamError: " + err.Error()
	}

	if _, err := send(context.Background(), "http://127.0.0.1:1/"); class(err) != ClassConnect {
		t.Fatalf("refused connection: %v", err)
	}
	if _, err := send(context.Background(), slowHeaders.URL); class(err) != ClassTimeout {
		t.Fatalf("no first byte: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	if _, err := send(ctx, slowHeaders.URL); class(err) != ClassCanceled {
		t.Fatalf("client cancel: %v", err)
	}
	res, err := send(context.Background(), stallsMidBody.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	_, err = io.ReadAll(res.Body)
	if class(err) != ClassTimeout {
		t.Fatalf("idle mid-body: %v", err)
	}
}
