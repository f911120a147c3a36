// Package greptime ships usage time series to GreptimeDB over its
// InfluxDB line protocol write API.
//
// One line per event, measurement tensorgate_requests. Tags are kept few
// and low in cardinality: capability, model, provider, org, status class
// and node. The request id, key and numbers are fields. The timestamp is
// the event's time in nanoseconds, whose last three digits (below the
// microsecond the gateway records) are taken from the outbox sequence
// number: two events of one node never share a series and a timestamp,
// and shipping an event again writes the same row, which GreptimeDB
// deduplicates on its tags and time index.
package greptime

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/outbox"
)

// Measurement is the table the series land in.
const Measurement = "tensorgate_requests"

// Sink posts batches of lines to a GreptimeDB write URL.
type Sink struct {
	url    string
	client *http.Client
	log    *slog.Logger
}

// New checks the write URL: a full URL such as
// http://greptimedb:4000/v1/influxdb/write?db=public. A bare host URL
// gets the v1 write path; the precision is nanoseconds unless the URL
// says otherwise, in which case it must say ns.
func New(rawURL string, lg *slog.Logger) (*Sink, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL %q is not an http(s) URL", rawURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/influxdb/write"
	}
	q := u.Query()
	switch q.Get("precision") {
	case "":
		q.Set("precision", "ns")
	case "ns", "n":
	default:
		return nil, fmt.Errorf("GREPTIMEDB_INFLUX_WRITE_UPSTREAM_URL: precision must be ns (or unset), not %q", q.Get("precision"))
	}
	u.RawQuery = q.Encode()
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Sink{url: u.String(), client: &http.Client{Timeout: 30 * time.Second}, log: lg.With("component", "greptime")}, nil
}

// Name implements outbox.Sink.
func (s *Sink) Name() string { return "greptimedb" }

// Ship implements outbox.Sink.
func (s *Sink) Ship(ctx context.Context, recs []outbox.Record) error {
	var body bytes.Buffer
	for _, r := range recs {
		ev, err := event.Decode(r.Data)
		if err != nil {
			s.log.Error("skipping an undecodable outbox record", "seq", r.Seq, "err", err)
			continue
		}
		AppendLine(&body, ev, r.Seq)
	}
	if body.Len() == 0 {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, &body)
	if err != nil {
		return fmt.Errorf("build greptimedb write: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	res, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("write %d events to greptimedb: %w", len(recs), err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("write %d events to greptimedb: HTTP %d: %s", len(recs), res.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// AppendLine writes ev as one line of InfluxDB line protocol.
func AppendLine(b *bytes.Buffer, ev *event.Event, seq uint64) {
	b.WriteString(Measurement)
	tag(b, "capability", ev.Capability)
	tag(b, "model", ev.Model)
	tag(b, "node", ev.Node)
	tag(b, "org", ev.OrgID)
	tag(b, "provider", ev.Provider)
	tag(b, "status_class", event.StatusClass(ev.Status))
	b.WriteByte(' ')
	u := ev.Usage
	first := true
	intField := func(k string, v int64) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(v, 10))
		b.WriteByte('i')
	}
	strField := func(k, v string) {
		b.WriteByte(',')
		b.WriteString(k)
		b.WriteString(`="`)
		for i := 0; i < len(v); i++ {
			switch c := v[i]; c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n', '\r':
				b.WriteByte(' ')
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
	intField("status", int64(ev.Status))
	// The token units, their total, then every other unit.
	figs := u.Figures()
	for _, token := range [...]bool{true, false} {
		for i, unit := range fsm.Units {
			if unit.Token == token {
				intField(unit.Series, *figs[i])
			}
		}
		if token {
			intField("total_tokens", u.TotalTokens)
		}
	}
	intField("cost_micros", ev.CostMicros)
	intField("latency_ms", ev.LatencyMS)
	intField("ttfb_ms", ev.TTFBMS)
	intField("attempts", int64(len(ev.Attempts)))
	strField("request_id", ev.RequestID)
	strField("key_id", ev.KeyID)
	strField("currency", ev.Currency)
	strField("error_code", ev.ErrorCode)
	if ev.OwnKey {
		b.WriteString(",own_key=true") // the org's own upstream key
	}
	b.WriteByte(' ')
	ts := ev.Time.Truncate(time.Microsecond).UnixNano() + int64(seq%1000)
	b.WriteString(strconv.FormatInt(ts, 10))
	b.WriteByte('\n')
}

// tag writes ",key=value", escaping as the line protocol requires; an
// empty value is left out (the protocol has no empty tags).
func tag(b *bytes.Buffer, k, v string) {
	if v == "" {
		return
	}
	b.WriteByte(',')
	b.WriteString(k)
	b.WriteByte('=')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ',', '=', ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\\':
			// Parsers disagree on backslashes in tags; none is ambiguous
			// about a slash.
			b.WriteByte('/')
		case '\n', '\r', '\t':
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
}
