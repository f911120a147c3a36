package outbox

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sink is a destination events are shipped to. Ship must be idempotent:
// after a crash or a failed call the same events come again.
type Sink interface {
	Name() string
	// Ship stores recs. An error makes the shipper retry the same batch
	// after a backoff; a sink skips (and logs) a record it can never
	// store rather than block the queue behind it.
	Ship(ctx context.Context, recs []Record) error
}

// ShipOptions tunes a shipper.
type ShipOptions struct {
	Batch      int           // most events per Ship call (default 1000)
	Timeout    time.Duration // bound of one Ship call (default 30s)
	MinBackoff time.Duration // first wait after a failure (default 100ms)
	MaxBackoff time.Duration // longest wait between retries (default 30s)
	// Linger waits this long for a batch to fill when fewer than Batch
	// events are waiting (default 0: ship what is there).
	Linger time.Duration
	Logger *slog.Logger
}

func (o *ShipOptions) defaults() {
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Ship registers sink and ships its events in order until ctx ends,
// retrying failures with capped exponential backoff; it never gives up
// and never skips an event.
func (o *Outbox) Ship(ctx context.Context, sink Sink, opts ShipOptions) error {
	opts.defaults()
	name := sink.Name()
	lg := opts.Logger.With("component", "outbox", "sink", name)
	cursor, err := o.Register(name)
	if err != nil {
		return err
	}
	m := o.metrics
	backoff := opts.MinBackoff
	failing := false
	for {
		changed := o.Changed()
		recs, err := o.Read(cursor, opts.Batch)
		if err == nil && len(recs) == 0 {
			select {
			case <-changed:
				if opts.Linger > 0 {
					wait(ctx, opts.Linger)
				}
				continue
			case <-ctx.Done():
				return nil
			}
		}
		if err == nil {
			start := time.Now()
			sctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			err = sink.Ship(sctx, recs)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			m.batch.WithLabelValues(name).Observe(time.Since(start).Seconds())
			if err == nil {
				var bytes int64
				now := time.Now()
				lag := m.lag.WithLabelValues(name)
				for _, r := range recs {
					bytes += int64(len(r.Data)) + valueHeader
					if !r.Appended.IsZero() {
						lag.Observe(now.Sub(r.Appended).Seconds())
					}
				}
				last := recs[len(recs)-1].Seq
				if err = o.Ack(name, last, bytes); err == nil {
					cursor = last
					m.shipped.WithLabelValues(name).Add(float64(len(recs)))
					if failing {
						lg.Info("sink recovered", "shipped", len(recs))
						failing = false
					}
					backoff = opts.MinBackoff
					continue
				}
			}
		}
		m.failures.WithLabelValues(name).Inc()
		if !failing || backoff == opts.MaxBackoff {
			lg.Warn("shipping events failed; retrying, the backlog is kept", "err", err, "retry_in", backoff.String(),
				"pending", o.Backlog(name).Pending)
		}
		failing = true
		// Full jitter keeps nodes that lost the same sink from retrying
		// in step.
		if !wait(ctx, backoff/2+rand.N(backoff/2+1)) {
			return nil
		}
		backoff = min(backoff*2, opts.MaxBackoff)
	}
}

func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// metrics are the outbox's own; the backlog gauges are read live at each
// scrape.
type metrics struct {
	shipped  *prometheus.CounterVec
	failures *prometheus.CounterVec
	batch    *prometheus.HistogramVec
	lag      *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		shipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tensorgate_outbox_shipped_total", Help: "Events shipped, by sink.",
		}, []string{"sink"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tensorgate_outbox_ship_failures_total", Help: "Failed shipping attempts (each retried), by sink.",
		}, []string{"sink"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tensorgate_outbox_ship_batch_seconds", Help: "Time to ship one batch, by sink.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"sink"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tensorgate_outbox_ship_lag_seconds", Help: "Time from an event's append to its shipping, by sink.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 300, 3600},
		}, []string{"sink"}),
	}
}

var (
	descPending = prometheus.NewDesc("tensorgate_outbox_pending_events", "Events a sink has not shipped yet.", []string{"sink"}, nil)
	descBytes   = prometheus.NewDesc("tensorgate_outbox_pending_bytes", "Stored size of the events a sink has not shipped yet.", []string{"sink"}, nil)
	descOldest  = prometheus.NewDesc("tensorgate_outbox_oldest_unshipped_seconds", "Age of the oldest event a sink has not shipped (0 when none).", []string{"sink"}, nil)
	descFull    = prometheus.NewDesc("tensorgate_outbox_full", "1 while some sink's backlog has reached the outbox's size limit.", nil, nil)
)

// Describe implements prometheus.Collector.
func (o *Outbox) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPending
	ch <- descBytes
	ch <- descOldest
	ch <- descFull
	o.metrics.shipped.Describe(ch)
	o.metrics.failures.Describe(ch)
	o.metrics.batch.Describe(ch)
	o.metrics.lag.Describe(ch)
}

// Collect implements prometheus.Collector.
func (o *Outbox) Collect(ch chan<- prometheus.Metric) {
	for _, sink := range o.Sinks() {
		st := o.Backlog(sink)
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending), sink)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(max(0, st.PendingBytes)), sink)
		age := 0.0
		if st.Pending > 0 {
			if recs, err := o.Read(st.Cursor, 1); err == nil && len(recs) == 1 && !recs[0].Appended.IsZero() {
				age = time.Since(recs[0].Appended).Seconds()
			}
		}
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, sink)
	}
	full := 0.0
	if o.Full() {
		full = 1
	}
	ch <- prometheus.MustNewConstMetric(descFull, prometheus.GaugeValue, full)
	o.metrics.shipped.Collect(ch)
	o.metrics.failures.Collect(ch)
	o.metrics.batch.Collect(ch)
	o.metrics.lag.Collect(ch)
}
