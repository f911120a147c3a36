// Package sse reads and writes server-sent events as LLM APIs use them.
//
// The Reader is strict about framing and bounded in memory: a line longer
// than the configured maximum is an error, not an allocation.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrLineTooLong reports an event line over the reader's limit.
var ErrLineTooLong = errors.New("sse: line too long")

// Event is one dispatched event. Data is only valid until the next call to
// Next.
type Event struct {
	Name string // the "event:" field; empty for the default "message"
	Data []byte // "data:" lines joined with "\n"
}

// Reader parses an event stream.
type Reader struct {
	br      *bufio.Reader
	maxLine int
	data    []byte
	name    []byte
	line    []byte
}

// DefaultMaxLine bounds one line; image data URLs in a chunk can be large.
const DefaultMaxLine = 16 << 20

// readers recycles Readers: every streamed request needs one, and their
// buffers are the bulk of a stream's per-request allocation.
var readers = sync.Pool{New: func() any { return &Reader{br: bufio.NewReaderSize(nil, 8<<10)} }}

// NewReader returns a Reader over r with lines of at most maxLine bytes
// (DefaultMaxLine when maxLine <= 0). Release it when done.
func NewReader(r io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	rd := readers.Get().(*Reader)
	rd.br.Reset(r)
	rd.maxLine = maxLine
	return rd
}

// Release returns the Reader to the pool; it must not be used afterwards.
func (r *Reader) Release() {
	r.br.Reset(nil)
	if cap(r.line) > 64<<10 {
		r.line = nil
	}
	if cap(r.data) > 64<<10 {
		r.data = nil
	}
	readers.Put(r)
}

// Next returns the next event. It returns io.EOF at a clean end of stream
// (no partial event pending) and io.ErrUnexpectedEOF when the stream ends
// inside an event.
func (r *Reader) Next() (Event, error) {
	r.data = r.data[:0]
	r.name = r.name[:0]
	hasData := false
	pending := false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF {
				if hasData {
					// A final event without its blank line still counts, as
					// browsers do; but an unterminated stream is a broken one
					// only when nothing dispatchable arrived.
					return Event{Name: string(r.name), Data: r.data}, nil
				}
				if pending {
					return Event{}, io.ErrUnexpectedEOF
				}
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if hasData {
				return Event{Name: string(r.name), Data: r.data}, nil
			}
			r.name = r.name[:0]
			pending = false
			continue
		}
		if line[0] == ':' {
			continue // comment, used as keep-alive
		}
		pending = true
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			hasData = true
		case "event":
			r.name = append(r.name[:0], value...)
		case "id", "retry":
		default:
			// Unknown fields are ignored, as the spec says.
		}
	}
}

// Buffered reports how many bytes are read from the stream but not yet
// parsed. A caller relaying events flushes when it reaches zero: holding
// events that already arrived would only add latency, and flushing each of
// a burst separately would only add syscalls.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// readLine returns one line without its terminator (\n, \r\n or \r).
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(r.line)+len(frag) > r.maxLine+2 {
			return nil, fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, r.maxLine)
		}
		r.line = append(r.line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(r.line) > 0 {
				return trimEOL(r.line), nil
			}
			return nil, err
		}
		return trimEOL(r.line), nil
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// AppendData appends one "data:" event (payload on a single line) to dst.
func AppendData(dst, payload []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, payload...)
	return append(dst, '\n', '\n')
}

// AppendNamed appends an event with a name, as Anthropic's stream uses.
func AppendNamed(dst []byte, name string, payload []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, '\n')
	return AppendData(dst, payload)
}

// Done is the OpenAI end-of-stream sentinel payload.
var Done = []byte("[DONE]")
