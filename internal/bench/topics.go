package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Topics defaults: 10,000 topics, 1,000 subscribers on 10 each (every
// topic has one subscriber), NDJSON batches of 100 events.
const (
	defaultTopics       = 10000
	defaultTopicsPerSub = 10
	defaultTopicsSubs   = 1000
)

// Topics runs many topics: Subscribers subscribers, subscriber i on the
// TopicsPerSub topics from i×TopicsPerSub on (modulo Topics, so every
// topic has a subscriber once Subscribers × TopicsPerSub ≥ Topics), and
// Publishers publishers that publish to the topics in turn for Duration
// (NDJSON batches of Batch events on consecutive topics, or one event per
// request with Batch ≤ 1; at most Rate events/s in all). Then it waits
// for every subscriber to have every event of its topics, and reports the
// dispatch rate (deliveries/s), loss, duplicates and publish→receive
// latency.
func Topics(ctx context.Context, cfg *Config) (*Result, error) {
	nTopics := orDefault(cfg.Topics, defaultTopics)
	perSub := min(orDefault(cfg.TopicsPerSub, defaultTopicsPerSub), nTopics)
	nSubs := orDefault(cfg.Subscribers, defaultTopicsSubs)
	batch := max(cfg.Batch, 1)
	base := uniqueTopic("topics")
	names := make([]string, nTopics)
	for t := range names {
		names[t] = base + ".t" + strconv.Itoa(t)
	}
	topicsOf := func(i int) []int {
		ts := make([]int, perSub)
		for j := range ts {
			ts[j] = (i*perSub + j) % nTopics
		}
		return ts
	}
	subsOf := make([]int, nTopics) // subscribers per topic
	for i := 0; i < nSubs; i++ {
		for _, t := range topicsOf(i) {
			subsOf[t]++
		}
	}
	covered := 0
	for _, n := range subsOf {
		if n > 0 {
			covered++
		}
	}
	cfg.progress("topics: connecting %d subscribers, %d topics each, over %d topics", nSubs, perSub, nTopics)
	subs, err := openSubscribersAt(ctx, cfg, func(i int) string {
		var b strings.Builder
		b.WriteString("/events?topic=")
		for j, t := range topicsOf(i) {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(names[t])
		}
		return b.String()
	}, nSubs, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if subs != nil {
			subs.close()
		}
	}()

	acked := make([]atomic.Uint64, nTopics) // acknowledged events per topic
	var next atomic.Uint64                  // the next topic to publish to
	var events, requests, errs atomic.Uint64
	var mu sync.Mutex
	var ackLat Histogram
	client := newClient(cfg, cfg.Publishers, false)
	pad := padding(cfg.PayloadSize)
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(batch) * float64(max(cfg.Publishers, 1)) / cfg.Rate)
	}
	cfg.progress("topics: publishing with %d publishers, batch %d, for %s", cfg.Publishers, batch, cfg.Duration)
	// The scrape first: on a busy machine it can take longer than a short
	// --duration, which must count from the first publish.
	writes0, writesErr := cfg.metric(ctx, "ssehub_stream_writes_total")
	pctx, stopPub := context.WithTimeout(ctx, cfg.Duration)
	defer stopPub()
	mark, start := cpuNow(cfg), time.Now()
	var wg sync.WaitGroup
	for p := range max(cfg.Publishers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat Histogram
			var body []byte
			nextAt := time.Now()
			if interval > 0 {
				nextAt = nextAt.Add(time.Duration(p) * interval / time.Duration(max(cfg.Publishers, 1)))
			}
			for pctx.Err() == nil {
				if interval > 0 {
					if d := time.Until(nextAt); d > 0 {
						select {
						case <-time.After(d):
						case <-pctx.Done():
							continue
						}
					}
					nextAt = nextAt.Add(interval)
				}
				first := int(next.Add(uint64(batch))-uint64(batch)) % nTopics
				topicOf := func(j int) int { return (first + j) % nTopics }
				var req *http.Request
				if batch == 1 {
					body = payload(body, pad)
					req = cfg.req(context.WithoutCancel(pctx), "POST", "/publish/"+names[first], bytes.NewReader(body))
				} else {
					body = topicBatchBody(body, batch, func(j int) string { return names[topicOf(j)] }, pad)
					req = cfg.req(context.WithoutCancel(pctx), "POST", "/publish", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/x-ndjson")
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
					continue
				}
				lat.Record(time.Since(t0))
				for j := range batch {
					acked[topicOf(j)].Add(1)
				}
				events.Add(uint64(batch))
				requests.Add(1)
			}
			mu.Lock()
			ackLat.Merge(&lat)
			mu.Unlock()
		}()
	}
	tick := time.NewTicker(time.Second)
	go func() {
		for {
			select {
			case <-tick.C:
				cfg.progress("topics: %5.1fs published %d delivered %d", time.Since(start).Seconds(), events.Load(), subs.delivered.Load())
			case <-pctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	tick.Stop()
	pubEnd := time.Since(start)

	want := make([]uint64, nSubs)
	var wantAll uint64
	for i := range want {
		for _, t := range topicsOf(i) {
			want[i] += acked[t].Load()
		}
		wantAll += want[i]
	}
	waitFor(ctx, 30*time.Second, func() bool {
		for i := range want {
			if subs.count[i].Load() < want[i] {
				return false
			}
		}
		return true
	})
	elapsed := time.Since(start)
	subs.close()
	var lat Histogram
	var got, dups uint64
	for _, rc := range subs.recv {
		lat.Merge(&rc.Latency)
		got += rc.Events
		dups += rc.Dups
	}
	subs = nil

	res := &Result{Scenario: "topics"}
	res.set("topics", nTopics)
	res.set("topics_with_subscribers", covered)
	res.set("subscribers", nSubs)
	res.set("topics_per_subscriber", perSub)
	res.set("publishers", cfg.Publishers)
	res.set("batch", batch)
	res.set("payload_bytes", cfg.PayloadSize)
	res.set("duration_s", pubEnd.Seconds())
	res.set("published", events.Load())
	res.set("publish_errors", errs.Load())
	res.set("events_per_s", float64(events.Load())/pubEnd.Seconds())
	res.set("deliveries", got)
	res.set("deliveries_per_s", float64(got)/elapsed.Seconds())
	res.set("lost", int64(wantAll)-int64(got))
	res.set("duplicates", dups)
	res.set("latency_p50_ms", ms(lat.Quantile(0.50)))
	res.set("latency_p99_ms", ms(lat.Quantile(0.99)))
	res.set("latency_p999_ms", ms(lat.Quantile(0.999)))
	res.set("latency_max_ms", ms(lat.Max()))
	res.set("publish_ack_p99_ms", ms(ackLat.Quantile(0.99)))
	res.cpuFigures(cfg, mark, elapsed)
	if writes1, err := cfg.metric(ctx, "ssehub_stream_writes_total"); err == nil && writesErr == nil && writes1 > writes0 {
		res.set("events_per_write", float64(got)/(writes1-writes0))
	}
	return res, nil
}
