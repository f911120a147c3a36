package sse

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readAll(t *testing.T, in string, max int) ([]Event, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in), max)
	var out []Event
	for {
		ev, err := r.Next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = append(out, Event{Name: ev.Name, Data: append([]byte(nil), ev.Data...)})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
		err  error
	}{
		{"openai", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []Event{{Data: []byte(`{"a":1}`)}, {Data: []byte("[DONE]")}}, nil},
		{"crlf and comments", ": keepalive\r\n\r\ndata:x\r\n\r\n", []Event{{Data: []byte("x")}}, nil},
		{"named", "event: ping\ndata: {}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			[]Event{{Name: "ping", Data: []byte("{}")}, {Name: "message_stop", Data: []byte(`{"type":"message_stop"}`)}}, nil},
		{"multi-line data", "data: a\ndata: b\n\n", []Event{{Data: []byte("a\nb")}}, nil},
		{"last event without blank line", "data: a\n\ndata: b", []Event{{Data: []byte("a")}, {Data: []byte("b")}}, nil},
		{"name without data is dropped", "event: x\n\ndata: y\n\n", []Event{{Data: []byte("y")}}, nil},
		{"cut inside an event", "data: a\n\nevent: x\n", []Event{{Data: []byte("a")}}, io.ErrUnexpectedEOF},
		{"empty", "", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.in, 0)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLineLimit(t *testing.T) {
	_, err := readAll(t, "data: "+strings.Repeat("x", 100)+"\n\n", 50)
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got %v, want ErrLineTooLong", err)
	}
	// A line longer than bufio's buffer but under the limit is fine.
	long := strings.Repeat("y", 100<<10)
	got, err := readAll(t, "data: "+long+"\n\n", 0)
	if err != nil || len(got) != 1 || string(got[0].Data) != long {
		t.Fatalf("long line: %v", err)
	}
}

func TestAppend(t *testing.T) {
	b := AppendNamed(nil, "ping", []byte("{}"))
	b = AppendData(b, Done)
	got, err := readAll(t, string(b), 0)
	if err != nil || len(got) != 2 || got[0].Name != "ping" || string(got[1].Data) != "[DONE]" {
		t.Fatalf("round trip: %v %v", got, err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add("data: {\"a\":1}\n\ndata: [DONE]\n\n")
	f.Add("event: x\r\ndata: y\r\n\r\n: c\n")
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader(in), 1024)
		for i := 0; i < len(in)+2; i++ {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if len(ev.Data) > len(in) {
				t.Fatalf("event data longer than the input")
			}
		}
		t.Fatal("reader did not terminate")
	})
}
