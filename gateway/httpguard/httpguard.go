// Package httpguard holds what every answer of a node's HTTP server gets,
// whichever handler serves it: headers browsers must see, and a bound on
// how slowly a client may send a request body.
package httpguard

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Config bounds request bodies: a body must arrive at MinRate bytes per
// second on average after a Grace period, or the read fails and the
// connection is closed. A client that trickles a byte every few seconds
// would otherwise hold a connection and a handler for as long as it likes
// (headers are bounded by the server's ReadHeaderTimeout).
type Config struct {
	Grace   time.Duration
	MinRate int64 // bytes per second
}

// DefaultConfig lets a body take 10 s plus a second per KiB: a 25 MiB
// upload may take 7 hours, a trickle is cut after 10 s.
func DefaultConfig() Config { return Config{Grace: 10 * time.Second, MinRate: 1024} }

// Wrap returns h with the guard in front of it.
func Wrap(h http.Handler, c Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Never let a browser guess a type from content: an upstream's
		// answer or a stored image is what its Content-Type says.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Body != nil && r.Body != http.NoBody && c.MinRate > 0 {
			r.Body = &paced{ReadCloser: r.Body, rc: http.NewResponseController(w), c: c}
		}
		h.ServeHTTP(w, r)
	})
}

// paced is a request body whose reads must keep to Config's pace. The
// read deadline is set from the first read on and cleared once the body
// has ended, so it never cuts the answer (a stream) that follows.
type paced struct {
	io.ReadCloser
	rc    *http.ResponseController
	c     Config
	start time.Time
	n     int64
	done  atomic.Bool
}

func (p *paced) Read(b []byte) (int, error) {
	if p.done.Load() {
		return p.ReadCloser.Read(b)
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	_ = p.rc.SetReadDeadline(p.deadline())
	n, err := p.ReadCloser.Read(b)
	p.n += int64(n)
	if err != nil {
		p.done.Store(true)
		_ = p.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// deadline is when the bytes read so far plus the next one are due.
func (p *paced) deadline() time.Time {
	// In float: bytes times nanoseconds overflows int64 past ~9 GB.
	due := time.Duration(float64(p.n+1) / float64(p.c.MinRate) * float64(time.Second))
	return p.start.Add(p.c.Grace + due)
}
