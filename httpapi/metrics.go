package httpapi

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/pump"
)

type metrics struct {
	commit *prometheus.HistogramVec
}

// newMetrics registers the hub's Prometheus metrics with reg (if any).
func newMetrics(h *hub.Hub, pc *pump.Counters, reg prometheus.Registerer) *metrics {
	m := &metrics{commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ssehub_commit_seconds",
		Help:    "Latency of appending a publish request's events durably to the log.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, nil)}
	if reg == nil {
		return m
	}
	st := h.Stats()
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		m.commit,
		counter("ssehub_published_events_total", "Events appended to the log.", func() float64 { return float64(st.Published.Load()) }),
		counter("ssehub_duplicate_publishes_total", "Publishes answered as duplicates of an earlier idempotency key.", func() float64 { return float64(st.Duplicates.Load()) }),
		counter("ssehub_deliveries_total", "Events written to subscribers.", func() float64 { return float64(st.Deliveries.Load()) }),
		counter("ssehub_catchups_total", "Times a live subscriber fell behind and caught up from the log.", func() float64 { return float64(st.CatchUps.Load()) }),
		counter("ssehub_replays_total", "Subscriptions that started by replaying history.", func() float64 { return float64(st.Replays.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ssehub_subscribers", Help: "Open subscriptions."}, func() float64 { return float64(st.Subscribers.Load()) }),
		counter("ssehub_stream_writes_total", "Writes to detached streams (each carries every event ready for that stream).", func() float64 { return float64(pc.Writes.Load()) }),
		counter("ssehub_stream_write_bytes_total", "Bytes written to detached streams.", func() float64 { return float64(pc.Bytes.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ssehub_head_id", Help: "Id of the last event dispatched to live subscribers."}, func() float64 { return float64(h.Head()) }),
	)
	return m
}

func (m *metrics) observeCommit(d time.Duration, _ int) {
	m.commit.WithLabelValues().Observe(d.Seconds())
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{})
}
