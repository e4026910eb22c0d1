package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// batchBody returns an NDJSON body of n envelopes for topic.
func batchBody(dst []byte, topic string, n int, pad []byte) []byte {
	dst = dst[:0]
	for i := 0; i < n; i++ {
		dst = append(dst, `{"topic":"`...)
		dst = append(dst, topic...)
		dst = append(dst, `","data":{"t":`...)
		dst = strconv.AppendInt(dst, time.Now().UnixNano(), 10)
		dst = append(dst, `,"p":"`...)
		dst = append(dst, pad...)
		dst = append(dst, "\"}}\n"...)
	}
	return dst
}

// postBatch sends one NDJSON batch and reports whether it was acknowledged.
func postBatch(ctx context.Context, cfg *Config, client *http.Client, body []byte) bool {
	req := cfg.req(ctx, "POST", "/publish", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

// Publish runs C concurrent publishers for Duration, each publishing one
// event per request, or Batch events per NDJSON request when Batch > 1.
func Publish(ctx context.Context, cfg *Config) (*Result, error) {
	topic := uniqueTopic("publish")
	client := newClient(cfg, cfg.Publishers, false)
	pctx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	cfg.progress("publish: %d publishers, batch %d, for %s", cfg.Publishers, max(cfg.Batch, 1), cfg.Duration)
	mark := cpuNow(cfg)
	cpu0, hubCPU0, start := mark.self, mark.hub, time.Now()
	var events, requests, errs atomic.Uint64
	var mu sync.Mutex
	var lat Histogram
	var wg sync.WaitGroup
	pad := padding(cfg.PayloadSize)
	singles := make([]*publisher, cfg.Publishers) // with Batch ≤ 1
	for i := 0; i < cfg.Publishers; i++ {
		singles[i] = &publisher{cfg: cfg, client: client, topic: topic}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Batch <= 1 {
				p := singles[i]
				p.run(pctx, 0, 0)
				events.Add(p.acks.Load())
				requests.Add(p.acks.Load())
				errs.Add(p.errs.Load())
				mu.Lock()
				lat.Merge(&p.lat)
				mu.Unlock()
				return
			}
			var my Histogram
			var body []byte
			for pctx.Err() == nil {
				body = batchBody(body, topic, cfg.Batch, pad)
				t0 := time.Now()
				if postBatch(context.WithoutCancel(pctx), cfg, client, body) {
					my.Record(time.Since(t0))
					events.Add(uint64(cfg.Batch))
					requests.Add(1)
				} else {
					errs.Add(1)
				}
			}
			mu.Lock()
			lat.Merge(&my)
			mu.Unlock()
		}()
	}
	tick := time.NewTicker(time.Second)
	go func() {
		for {
			select {
			case <-tick.C:
				n := events.Load()
				if cfg.Batch <= 1 { // single publishers count their own until they end
					n = 0
					for _, p := range singles {
						n += p.acks.Load()
					}
				}
				cfg.progress("publish: %5.1fs acknowledged %d events", time.Since(start).Seconds(), n)
			case <-pctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	tick.Stop()
	elapsed := time.Since(start)
	res := &Result{Scenario: "publish"}
	res.set("publishers", cfg.Publishers)
	res.set("batch", max(cfg.Batch, 1))
	res.set("payload_bytes", cfg.PayloadSize)
	res.set("duration_s", elapsed.Seconds())
	res.set("events_acknowledged", events.Load())
	res.set("events_per_s", float64(events.Load())/elapsed.Seconds())
	res.set("requests_per_s", float64(requests.Load())/elapsed.Seconds())
	res.set("errors", errs.Load())
	res.set("ack_p50_ms", ms(lat.Quantile(0.5)))
	res.set("ack_p99_ms", ms(lat.Quantile(0.99)))
	res.set("ack_max_ms", ms(lat.Max()))
	res.set("bench_cpu_percent", 100*(cpu()-cpu0).Seconds()/elapsed.Seconds())
	if cfg.PID != 0 {
		res.set("hub_cpu_percent", 100*(procCPU(cfg.PID)-hubCPU0).Seconds()/elapsed.Seconds())
	}
	if len(cfg.PIDs) > 1 {
		res.set("hubs_cpu_percent", 100*(cpuNow(cfg).hubs-mark.hubs).Seconds()/elapsed.Seconds())
	}
	return res, nil
}

// Replay publishes Events events, then measures how fast one client that
// is all of them behind catches up.
func Replay(ctx context.Context, cfg *Config) (*Result, error) {
	topic := uniqueTopic("replay")
	client := newClient(cfg, cfg.Publishers+1, false)
	pad := padding(cfg.PayloadSize)
	const batch = 1000
	cfg.progress("replay: publishing %d events", cfg.Events)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < max(cfg.Publishers, 1); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			for {
				n := next.Add(batch)
				if n-batch >= int64(cfg.Events) || ctx.Err() != nil {
					return
				}
				k := int(min(int64(batch), int64(cfg.Events)-(n-batch)))
				body = batchBody(body, topic, k, pad)
				if !postBatch(ctx, cfg, client, body) {
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		return nil, errPublish
	}
	// Find the ids: the first page of the topic's history gives the first.
	resps, err := subscribe(ctx, cfg, []*http.Client{client}, "/events?topic="+topic+"&last_event_id=earliest", 1)
	if err != nil {
		return nil, err
	}
	cfg.progress("replay: reading %d events from the start", cfg.Events)
	rc := &Receiver{}
	cpu0, hubCPU0, start := cpu(), procCPU(cfg.PID), time.Now()
	err = consumeReplay(resps[0].Body, rc, uint64(cfg.Events), "replay: the replay")
	elapsed := time.Since(start)
	resps[0].Body.Close()
	if err != nil {
		return nil, err
	}
	res := &Result{Scenario: "replay"}
	res.set("events", rc.Events)
	res.set("bytes", rc.Bytes)
	res.set("duration_s", elapsed.Seconds())
	res.set("events_per_s", float64(rc.Events)/elapsed.Seconds())
	res.set("mb_per_s", float64(rc.Bytes)/elapsed.Seconds()/1e6)
	res.set("duplicates", rc.Dups)
	res.set("bench_cpu_percent", 100*(cpu()-cpu0).Seconds()/elapsed.Seconds())
	if cfg.PID != 0 {
		res.set("hub_cpu_percent", 100*(procCPU(cfg.PID)-hubCPU0).Seconds()/elapsed.Seconds())
	}
	return res, nil
}

// Idle opens Conns idle subscriptions and reports the hub's memory per
// connection, measured as the growth of its resident memory.
func Idle(ctx context.Context, cfg *Config) (*Result, error) {
	topic := uniqueTopic("idle")
	time.Sleep(500 * time.Millisecond) // let a freshly started hub settle
	before, err := cfg.serverRSS(ctx)
	if err != nil {
		return nil, err
	}
	cfg.progress("idle: opening %d streams", cfg.Conns)
	start := time.Now()
	var hdr []string
	if cfg.AcceptEncoding != "" {
		hdr = []string{"Accept-Encoding", cfg.AcceptEncoding}
	}
	resps, err := subscribe(ctx, cfg, subClients(cfg, cfg.Conns), "/events?topic="+topic, cfg.Conns, hdr...)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, r := range resps {
			r.Body.Close()
		}
	}()
	opened := time.Since(start)
	time.Sleep(2 * time.Second)
	after, err := cfg.serverRSS(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Scenario: "idle"}
	conns := connections(cfg, cfg.Conns)
	res.set("protocol", protocol(cfg))
	res.set("streams", cfg.Conns)
	if cfg.AcceptEncoding != "" {
		res.set("content_encoding", resps[0].Header.Get("Content-Encoding"))
	}
	res.set("connections", conns)
	res.set("open_s", opened.Seconds())
	res.set("server_rss_before_mib", float64(before)/(1<<20))
	res.set("server_rss_after_mib", float64(after)/(1<<20))
	res.set("bytes_per_stream", (after-before)/int64(cfg.Conns))
	res.set("bytes_per_connection", (after-before)/int64(conns))
	if cfg.Hold > 0 {
		cfg.progress("idle: measured (%d bytes per stream); holding the streams open for %s", (after-before)/int64(cfg.Conns), cfg.Hold)
		select {
		case <-time.After(cfg.Hold):
		case <-ctx.Done():
		}
	}
	return res, nil
}
