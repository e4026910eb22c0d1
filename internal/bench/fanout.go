package bench

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// publisher posts payloads to topic until ctx is done, at most rate per
// second (0 = unlimited), recording ack latency and the highest id.
type publisher struct {
	cfg    *Config
	client *http.Client
	topic  string
	// mercure publishes by form POST to the Mercure endpoint (whose answer
	// is an opaque id: maxID stays 0).
	mercure bool
	acks    atomic.Uint64
	errs    atomic.Uint64
	maxID   atomic.Uint64
	mu      sync.Mutex
	lat     Histogram
}

// With a rate, the first publish waits for offset, so that publishers
// started together spread their publishes instead of sending in bursts.
func (p *publisher) run(ctx context.Context, rate float64, offset time.Duration) {
	pad := padding(p.cfg.PayloadSize)
	body := make([]byte, 0, len(pad)+64)
	var form []byte // the Mercure form of body
	var lat Histogram
	respBuf := make([]byte, 512)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	next := time.Now().Add(offset)
	for ctx.Err() == nil {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					continue
				}
			}
			next = next.Add(interval)
		}
		body = payload(body, pad)
		send, path := body, "/publish/"+p.topic
		if p.mercure {
			form = mercureForm(form[:0], p.topic, body)
			send, path = form, mercurePath
		}
		start := time.Now()
		req := p.cfg.req(context.WithoutCancel(ctx), "POST", path, bytes.NewReader(send))
		if p.mercure {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := p.client.Do(req)
		if err != nil {
			p.errs.Add(1)
			continue
		}
		n, _ := io.ReadFull(resp.Body, respBuf)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			p.errs.Add(1)
			continue
		}
		lat.Record(time.Since(start))
		p.acks.Add(1)
		if id := parseUint(bytes.TrimPrefix(respBuf[:n], []byte(`{"id":"`))); id > 0 {
			for {
				cur := p.maxID.Load()
				if id <= cur || p.maxID.CompareAndSwap(cur, id) {
					break
				}
			}
		}
	}
	p.mu.Lock()
	p.lat.Merge(&lat)
	p.mu.Unlock()
}

// subscribe opens n streams on topic and returns them once all are open.
func subscribe(ctx context.Context, cfg *Config, clients []*http.Client, path string, n int, extra ...string) ([]*http.Response, error) {
	return subscribeAt(ctx, cfg, clients, func(int) string { return path }, n, extra...)
}

// subscribeAt is subscribe with stream i at pathOf(i).
func subscribeAt(ctx context.Context, cfg *Config, clients []*http.Client, pathOf func(int) string, n int, extra ...string) ([]*http.Response, error) {
	resps := make([]*http.Response, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			req := cfg.req(ctx, "GET", pathOf(i), nil)
			for j := 0; j+1 < len(extra); j += 2 {
				req.Header.Set(extra[j], extra[j+1])
			}
			resp, err := clients[i*len(clients)/n].Do(req)
			if err == nil && resp.StatusCode != 200 {
				resp.Body.Close()
				err = fmt.Errorf("subscribe: %s", resp.Status)
			}
			if err != nil {
				errs <- err
				return
			}
			resps[i] = resp
		}(i)
	}
	wg.Wait()
	select {
	case err := <-errs:
		for _, r := range resps {
			if r != nil {
				r.Body.Close()
			}
		}
		return nil, err
	default:
	}
	return resps, nil
}

// Fanout runs S subscribers on one topic and P publishers for Duration,
// then waits for every subscriber to receive the last published event.
//
// With Protocol ProtocolMercure it subscribes and publishes through the
// Mercure endpoint instead (ssehub's or the reference hub's), with the
// Mercure JWTs; every stream must then get as many events as were
// acknowledged.
func Fanout(ctx context.Context, cfg *Config) (*Result, error) {
	topic := uniqueTopic("fanout")
	path, pubCfg, subCfg := "/events?topic="+topic, cfg, cfg
	var init func(*Receiver)
	if cfg.mercure() {
		var err error
		if pubCfg, subCfg, err = cfg.mercureRoles(); err != nil {
			return nil, err
		}
		topic = mercureTopic("fanout")
		path = mercureSubscribePath(topic)
		init = func(rc *Receiver) { rc.OpaqueIDs = true }
	}
	cfg.progress("fanout: connecting %d subscribers (%s)", cfg.Subscribers, cmp.Or(cfg.Protocol, ProtocolSSEHub))
	subs, err := openSubscribersAt(ctx, subCfg, func(int) string { return path }, cfg.Subscribers, init)
	if err != nil {
		return nil, err
	}
	delivered := &subs.delivered

	cfg.progress("fanout: %d subscribers connected; publishing with %d publishers for %s", cfg.Subscribers, cfg.Publishers, cfg.Duration)
	writes0, writesErr := cfg.metric(ctx, "ssehub_stream_writes_total")
	mark := cpuNow(cfg)
	cpu0, hubCPU0, start := mark.self, mark.hub, time.Now()
	ps := publishFor(ctx, pubCfg, "fanout", topic, delivered)
	pubEnd := time.Since(start)
	acks, errs, maxID, pubLat := ps.acks, ps.errs, ps.maxID, ps.lat
	// has reports whether stream i has everything: the last event, or
	// (Mercure's opaque ids) as many events as were acknowledged.
	has := func(i int) bool { return subs.seen[i].Load() >= maxID }
	if cfg.mercure() {
		has = func(i int) bool { return subs.count[i].Load() >= acks }
	}
	// Wait for every subscriber to have the last event, at most 30 s.
	timeout := time.Now().Add(30 * time.Second)
	for time.Now().Before(timeout) {
		all := true
		for i := range subs.seen {
			if !has(i) {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	subs.close()
	cpuUsed := cpu() - cpu0
	hubCPU := procCPU(cfg.PID) - hubCPU0

	var lat Histogram
	var events, dups uint64
	for _, rc := range subs.recv {
		lat.Merge(&rc.Latency)
		events += rc.Events
		dups += rc.Dups
	}
	want := acks * uint64(cfg.Subscribers)
	res := &Result{Scenario: "fanout"}
	if cfg.mercure() {
		res.set("protocol", ProtocolMercure)
	}
	res.set("subscribers", cfg.Subscribers)
	res.set("publishers", cfg.Publishers)
	res.set("payload_bytes", cfg.PayloadSize)
	res.set("duration_s", pubEnd.Seconds())
	res.set("published", acks)
	res.set("publish_errors", errs)
	res.set("publishes_per_s", float64(acks)/pubEnd.Seconds())
	res.set("deliveries", events)
	res.set("deliveries_per_s", float64(events)/elapsed.Seconds())
	res.set("lost", int64(want)-int64(events))
	res.set("duplicates", dups)
	res.set("latency_p50_ms", ms(lat.Quantile(0.50)))
	res.set("latency_p99_ms", ms(lat.Quantile(0.99)))
	res.set("latency_p999_ms", ms(lat.Quantile(0.999)))
	res.set("latency_max_ms", ms(lat.Max()))
	res.set("publish_ack_p99_ms", ms(pubLat.Quantile(0.99)))
	res.set("bench_cpu_percent", 100*cpuUsed.Seconds()/elapsed.Seconds())
	if cfg.PID != 0 {
		res.set("hub_cpu_percent", 100*hubCPU.Seconds()/elapsed.Seconds())
		if events > 0 {
			res.set("hub_cpu_us_per_delivery", float64(hubCPU.Microseconds())/float64(events))
		}
	}
	if len(cfg.PIDs) > 1 {
		res.set("hubs_cpu_percent", 100*(cpuNow(cfg).hubs-mark.hubs).Seconds()/elapsed.Seconds())
	}
	if writes1, err := cfg.metric(ctx, "ssehub_stream_writes_total"); err == nil && writesErr == nil && writes1 > writes0 {
		// Only detached (HTTP/1.1) streams count their writes.
		res.set("events_per_write", float64(events)/(writes1-writes0))
	}
	return res, nil
}

// pubStats are what publishFor's publishers did.
type pubStats struct {
	acks, errs, maxID uint64
	lat               Histogram
}

// publishFor runs Publishers publishers on topic for Duration (at most
// Rate publishes/s in all), printing progress each second as scenario.
func publishFor(ctx context.Context, cfg *Config, scenario, topic string, delivered *atomic.Uint64) *pubStats {
	pubClient := newClient(cfg, cfg.Publishers, false)
	pctx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	pubs := make([]*publisher, cfg.Publishers)
	start := time.Now()
	var pwg sync.WaitGroup
	for i := range pubs {
		pubs[i] = &publisher{cfg: cfg, client: pubClient, topic: topic, mercure: cfg.mercure()}
		pwg.Add(1)
		go func(p *publisher) {
			defer pwg.Done()
			rate, offset := 0.0, time.Duration(0)
			if cfg.Rate > 0 {
				rate = cfg.Rate / float64(cfg.Publishers)
				offset = time.Duration(float64(i) * float64(time.Second) / cfg.Rate)
			}
			p.run(pctx, rate, offset)
		}(pubs[i])
	}
	tick := time.NewTicker(time.Second)
	go func() {
		for {
			select {
			case <-tick.C:
				var acks uint64
				for _, p := range pubs {
					acks += p.acks.Load()
				}
				cfg.progress("%s: %5.1fs published %d delivered %d", scenario, time.Since(start).Seconds(), acks, delivered.Load())
			case <-pctx.Done():
				return
			}
		}
	}()
	pwg.Wait()
	tick.Stop()
	ps := &pubStats{}
	for _, p := range pubs {
		ps.acks += p.acks.Load()
		ps.errs += p.errs.Load()
		ps.maxID = max(ps.maxID, p.maxID.Load())
		ps.lat.Merge(&p.lat)
	}
	return ps
}
