package httpapi

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/ssehub/ssehub"
)

type metrics struct {
	commit      prometheus.Histogram
	commitBatch prometheus.Histogram
}

// newMetrics registers the hub's Prometheus metrics with reg (if any).
func newMetrics(s *Server, reg prometheus.Registerer) *metrics {
	m := &metrics{
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ssehub_commit_seconds",
			Help:    "Latency of appending a publish request's events durably to the log.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ssehub_commit_events",
			Help:    "Events in one publish request's append.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
	}
	if reg == nil {
		return m
	}
	st := s.hub.Stats()
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		m.commit, m.commitBatch,
		counter("ssehub_published_events_total", "Events appended to the log.", func() float64 { return float64(st.Published.Load()) }),
		counter("ssehub_duplicate_publishes_total", "Publishes answered as duplicates of an earlier idempotency key.", func() float64 { return float64(st.Duplicates.Load()) }),
		counter("ssehub_deliveries_total", "Events written to subscribers.", func() float64 { return float64(st.Deliveries.Load()) }),
		counter("ssehub_catchups_total", "Times a live subscriber fell behind and caught up from the log.", func() float64 { return float64(st.CatchUps.Load()) }),
		counter("ssehub_replays_total", "Subscriptions that started by replaying history.", func() float64 { return float64(st.Replays.Load()) }),
		counter("ssehub_log_reads_total", "Catch-up reads from the log (not the hot tier).", func() float64 { return float64(st.LogReads.Load()) }),
		gauge("ssehub_subscribers", "Open subscriptions.", func() float64 { return float64(st.Subscribers.Load()) }),
		gauge("ssehub_streams", "Open streams counted against limits.max_streams.", func() float64 { return float64(s.limits.Streams()) }),
		gauge("ssehub_head_id", "Id of the last event dispatched to live subscribers.", func() float64 { return float64(s.hub.Head()) }),
	)
	if sr, ok := s.hub.Store().(ssehub.StatsReporter); ok {
		reg.MustRegister(
			gauge("ssehub_retained_events", "Events the store retains.", func() float64 { return float64(sr.StoreStats().Events) }),
			gauge("ssehub_retained_bytes", "Bytes of retained events, as retention counts them.", func() float64 { return float64(sr.StoreStats().Bytes) }),
			gauge("ssehub_retention_lag_events", "Retained events past the retention bounds, waiting to be removed.", func() float64 { return float64(sr.StoreStats().RetentionLag) }),
		)
	}
	return m
}

func (m *metrics) observeCommit(d time.Duration, events int) {
	m.commit.Observe(d.Seconds())
	m.commitBatch.Observe(float64(events))
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{})
}
