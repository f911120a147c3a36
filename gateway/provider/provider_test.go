package provider

import (
	"net/http"
	"testing"
	"time"
)

func TestEstimateTokens(t *testing.T) {
	for in, want := range map[string]int64{
		"":                   0,
		"abcd":               1,
		"hello world":        3,
		"你好世界":               4,
		"hi 你好":              3,
		string([]byte{0xff}): 1,
	} {
		if got := EstimateTokens([]byte(in)); got != want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", in, got, want)
		}
		if got := EstimateString(in); got != want && in != string([]byte{0xff}) {
			t.Errorf("EstimateString(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestClassifyStatus(t *testing.T) {
	for status, want := range map[int]string{
		400: ClassClientErr, 422: ClassClientErr, 413: ClassClientErr,
		401: ClassAuth, 403: ClassAuth, 404: ClassStatus, 429: ClassRateLimit,
		500: ClassStatus, 502: ClassStatus, 529: ClassStatus,
	} {
		if got := ClassifyStatus(status); got != want {
			t.Errorf("ClassifyStatus(%d) = %s, want %s", status, got, want)
		}
		retry := (&UpstreamError{Class: ClassifyStatus(status)}).Retryable()
		if retry != (want != ClassClientErr) {
			t.Errorf("status %d retryable = %v", status, retry)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := ParseRetryAfter("7", now); got != 7*time.Second {
		t.Fatalf("seconds: %v", got)
	}
	if got := ParseRetryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now); got != 90*time.Second {
		t.Fatalf("date: %v", got)
	}
	if got := ParseRetryAfter("soon", now); got != 0 {
		t.Fatalf("junk: %v", got)
	}
}
