// Package promwrite pushes a node's Prometheus metrics to a remote-write
// receiver (GreptimeDB's /v1/prometheus/write, or Prometheus itself), so
// no scraper or Vector is needed between the nodes and the metrics store.
// It speaks remote write 1.0: a snappy-compressed protobuf WriteRequest.
package promwrite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
)

// Pusher sends every metric of a Gatherer every Interval.
type Pusher struct {
	URL      string
	Gatherer prometheus.Gatherer
	// Labels are added to every series: instance (the node id) and job.
	Labels   map[string]string
	Interval time.Duration // default 15s
	Client   *http.Client
	Logger   *slog.Logger
	Now      func() time.Time
}

// Run pushes until ctx ends; a failed push is logged and the next one
// carries the current values (metrics are state, not events).
func (p *Pusher) Run(ctx context.Context) {
	interval := p.Interval
	if interval <= 0 {
		interval = 15 * time.Second
	}
	lg := p.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("component", "promwrite")
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := p.Push(ctx)
		switch {
		case err != nil && !failing:
			lg.Warn("pushing metrics failed; retrying at the next interval", "err", err)
			failing = true
		case err == nil && failing:
			lg.Info("pushing metrics recovered")
			failing = false
		}
	}
}

// Push sends the current values once.
func (p *Pusher) Push(ctx context.Context) error {
	mfs, err := p.Gatherer.Gather()
	if err != nil && len(mfs) == 0 {
		return fmt.Errorf("gather metrics: %w", err)
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	body := snappy.Encode(nil, Encode(mfs, p.Labels, now().UnixMilli()))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "tensorgate")
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("push metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("push metrics: %s: %s", res.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

type label struct{ name, value string }

// Encode renders metric families as a remote-write WriteRequest: one
// series per sample (histograms as _bucket with le, _sum and _count;
// summaries as quantiles, _sum and _count), labels sorted by name, every
// sample at ts (Unix milliseconds).
func Encode(mfs []*dto.MetricFamily, extra map[string]string, ts int64) []byte {
	var out []byte
	series := func(name string, labels []label, v float64) {
		ls := make([]label, 0, len(labels)+len(extra)+1)
		ls = append(ls, label{"__name__", name})
		ls = append(ls, labels...)
		for k, v := range extra {
			if !slices.ContainsFunc(labels, func(l label) bool { return l.name == k }) {
				ls = append(ls, label{k, v})
			}
		}
		slices.SortFunc(ls, func(a, b label) int { return strings.Compare(a.name, b.name) })
		var s []byte
		for _, l := range ls {
			var lb []byte
			lb = protowire.AppendTag(lb, 1, protowire.BytesType)
			lb = protowire.AppendString(lb, l.name)
			lb = protowire.AppendTag(lb, 2, protowire.BytesType)
			lb = protowire.AppendString(lb, l.value)
			s = protowire.AppendTag(s, 1, protowire.BytesType)
			s = protowire.AppendBytes(s, lb)
		}
		var sb []byte
		sb = protowire.AppendTag(sb, 1, protowire.Fixed64Type)
		sb = protowire.AppendFixed64(sb, math.Float64bits(v))
		sb = protowire.AppendTag(sb, 2, protowire.VarintType)
		sb = protowire.AppendVarint(sb, uint64(ts))
		s = protowire.AppendTag(s, 2, protowire.BytesType)
		s = protowire.AppendBytes(s, sb)
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, s)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			ls := make([]label, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				ls = append(ls, label{l.GetName(), l.GetValue()})
			}
			with := func(n, v string) []label { return append(slices.Clone(ls), label{n, v}) }
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				series(name, ls, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				series(name, ls, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				series(name, ls, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					series(name+"_bucket", with("le", formatFloat(b.GetUpperBound())), float64(b.GetCumulativeCount()))
				}
				series(name+"_bucket", with("le", "+Inf"), float64(h.GetSampleCount()))
				series(name+"_sum", ls, h.GetSampleSum())
				series(name+"_count", ls, float64(h.GetSampleCount()))
			case dto.MetricType_SUMMARY:
				sm := m.GetSummary()
				for _, q := range sm.GetQuantile() {
					series(name, with("quantile", formatFloat(q.GetQuantile())), q.GetValue())
				}
				series(name+"_sum", ls, sm.GetSampleSum())
				series(name+"_count", ls, float64(sm.GetSampleCount()))
			}
		}
	}
	return out
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
