package ui

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/emitter"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// maxTopicRates bounds the topics one stats event lists rates for (the
// busiest first).
const maxTopicRates = 500

// statsJSON is the data of one "stats" event of GET /ui/api/stats. The
// counters are the hub's since it started (the same figures as /metrics);
// a client computes rates from two events.
type statsJSON struct {
	Time          time.Time `json:"time"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Interval      float64   `json:"interval_seconds"`
	Store         string    `json:"store"`
	Ready         bool      `json:"ready"`
	Head          string    `json:"head"`
	Published     uint64    `json:"published"`
	Duplicates    uint64    `json:"duplicates"`
	Dispatched    uint64    `json:"dispatched"`
	Deliveries    uint64    `json:"deliveries"`
	CatchUps      uint64    `json:"catchups"`
	Replays       uint64    `json:"replays"`
	LogReads      uint64    `json:"log_reads"`
	Subscribers   int64     `json:"subscribers"`
	Streams       int       `json:"streams"`
	// Retained is the store's figures, when it reports them.
	Retained *retainedJSON `json:"retained,omitempty"`
	// TopicRates are events per second over the last period, of the
	// busiest topics within the viewer's scope; topics without events in
	// the period are left out.
	TopicRates map[string]float64 `json:"topic_rates"`
	// TopicRatesTruncated reports that more topics had events than are
	// listed.
	TopicRatesTruncated bool `json:"topic_rates_truncated,omitempty"`
}

type retainedJSON struct {
	Events       int64 `json:"events"`
	Bytes        int64 `json:"bytes"`
	RetentionLag int64 `json:"retention_lag"`
}

// handleStats serves GET /ui/api/stats: an SSE stream (package emitter) of
// one "stats" event now and one every period, for any valid token. The
// counters are hub-wide, as /metrics shows them to anyone; the per-topic
// rates list only the topics within the token's scope. The stream counts
// against the stream limits like any other, and ends with an "error" event
// (code UNAUTHORIZED) when its token expires or is revoked, and when the
// server shuts down.
func (f *Feature) handleStats(w http.ResponseWriter, r *http.Request) {
	p, ok := f.s.Authenticate(w, r)
	if !ok {
		return
	}
	release, ok := f.s.Limiter().OpenStream(w, r, p)
	if !ok {
		return
	}
	defer release()
	e, err := emitter.Start(w, r, emitter.Options{Retry: 2 * time.Second, WriteTimeout: 30 * time.Second})
	if err != nil {
		return
	}
	defer e.Close()

	var expired <-chan time.Time
	if !p.Admin && !p.Token.ExpiresAt.IsZero() {
		t := time.NewTimer(time.Until(p.Token.ExpiresAt))
		defer t.Stop()
		expired = t.C
	}
	secret, _ := httpapi.TokenFrom(r)
	scope := p.Scope()
	tick := time.NewTicker(f.opts.StatsInterval)
	defer tick.Stop()
	for {
		if err := e.Send(f.snapshot(scope), "stats", ""); err != nil {
			return
		}
		select {
		case <-e.Done():
			return
		case <-f.s.Context().Done():
			return
		case <-expired:
			_ = e.Error(httpapi.CodeUnauthorized, auth.ErrExpired.Error())
			return
		case <-tick.C:
		}
		if !p.Admin {
			if err := f.stillValid(e.Context(), secret); err != nil {
				_ = e.Error(httpapi.CodeUnauthorized, err.Error())
				return
			}
		}
	}
}

// stillValid returns why an issued token no longer works (revoked,
// expired, unknown), or nil; a store that cannot answer now is not taken
// as a revocation.
func (f *Feature) stillValid(ctx context.Context, secret string) error {
	tokens := f.s.Tokens()
	if tokens == nil {
		return nil
	}
	_, err := tokens.Lookup(ctx, secret)
	if errors.Is(err, auth.ErrRevoked) || errors.Is(err, auth.ErrExpired) || errors.Is(err, auth.ErrUnknown) {
		return err
	}
	return nil
}

// snapshot returns the hub's figures now, with the topic rates of scope.
func (f *Feature) snapshot(scope ssehub.Filter) statsJSON {
	h := f.s.Hub()
	st := h.Stats()
	now := time.Now()
	out := statsJSON{
		Time: now.UTC(), StartedAt: f.opts.Started.UTC(), UptimeSeconds: now.Sub(f.opts.Started).Seconds(),
		Interval: f.opts.StatsInterval.Seconds(), Store: f.opts.StoreName, Ready: h.Ready(),
		Head:      strconv.FormatUint(h.Head(), 10),
		Published: st.Published.Load(), Duplicates: st.Duplicates.Load(), Dispatched: st.Dispatched.Load(),
		Deliveries: st.Deliveries.Load(), CatchUps: st.CatchUps.Load(), Replays: st.Replays.Load(),
		LogReads: st.LogReads.Load(), Subscribers: st.Subscribers.Load(), Streams: f.s.Limiter().Streams(),
	}
	if sr, ok := h.Store().(ssehub.StatsReporter); ok {
		ss := sr.StoreStats()
		out.Retained = &retainedJSON{Events: ss.Events, Bytes: ss.Bytes, RetentionLag: ss.RetentionLag}
	}
	out.TopicRates, out.TopicRatesTruncated = f.rates.forScope(f.s.Context(), scope, maxTopicRates)
	return out
}

// rateMeter measures each topic's events per second, for every viewer at
// once: when a period has passed since its last measure, the next viewer
// to ask reads the events the log appended since (at most max of them;
// past that the most recent max are counted and scaled up) and counts
// them by topic. It reads only while someone watches, needs no goroutine,
// and counts nothing in the hub's statistics (it reads the log, it does
// not subscribe).
type rateMeter struct {
	h     *hub.Hub
	every time.Duration
	max   uint64

	mu    sync.Mutex
	at    time.Time // when rates were measured; zero before the first
	upto  uint64    // the log's head then
	rates map[string]float64
}

func newRateMeter(h *hub.Hub, every time.Duration, max int) *rateMeter {
	return &rateMeter{h: h, every: every, max: uint64(max), rates: map[string]float64{}}
}

var errEnough = errors.New("ui: read enough")

// measure returns the rates of the last period, measuring them first when
// they are due. The map returned is never modified afterwards.
func (m *rateMeter) measure(ctx context.Context) map[string]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if !m.at.IsZero() && now.Sub(m.at) < m.every*9/10 {
		return m.rates
	}
	head := m.h.Head()
	if m.at.IsZero() || now.Sub(m.at) > 5*m.every || head < m.upto {
		// Nobody watched the last period (or the log is another one): this
		// measure is the baseline of the next.
		m.at, m.upto, m.rates = now, head, map[string]float64{}
		return m.rates
	}
	from, scale := m.upto, 1.0
	if n := head - m.upto; n > m.max {
		from, scale = head-m.max, float64(n)/float64(m.max)
	}
	counts := map[string]int{}
	if head > from {
		rctx, cancel := context.WithTimeout(ctx, m.every)
		err := m.h.History(rctx, from, ssehub.All(), func(ev *ssehub.Event) error {
			if ev.ID > head {
				return errEnough
			}
			counts[ev.Topic]++
			return nil
		})
		cancel()
		if err != nil && !errors.Is(err, errEnough) {
			m.at, m.upto, m.rates = now, head, map[string]float64{}
			return m.rates
		}
	}
	dt := now.Sub(m.at).Seconds()
	rates := make(map[string]float64, len(counts))
	for t, n := range counts {
		rates[t] = float64(n) * scale / dt
	}
	m.at, m.upto, m.rates = now, head, rates
	return rates
}

// forScope returns the current rates of the topics scope matches, at most
// limit of them (the busiest), and whether some were left out.
func (m *rateMeter) forScope(ctx context.Context, scope ssehub.Filter, limit int) (map[string]float64, bool) {
	all := m.measure(ctx)
	type tr struct {
		topic string
		rate  float64
	}
	var list []tr
	for t, r := range all {
		if scope.Match(t) {
			list = append(list, tr{t, r})
		}
	}
	truncated := len(list) > limit
	if truncated {
		sort.Slice(list, func(i, j int) bool { return list[i].rate > list[j].rate })
		list = list[:limit]
	}
	out := make(map[string]float64, len(list))
	for _, x := range list {
		out[x.topic] = x.rate
	}
	return out, truncated
}
