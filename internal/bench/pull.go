package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Pull defaults: the endpoint "bench", batches of 100 events, 20,000
// events, 1 consumer.
const (
	defaultPullName  = "bench"
	defaultPullBatch = 100
	defaultPullEvent = 20000
)

// extractAnswer is an extract's body.
type extractAnswer struct {
	BatchID *uint64 `json:"batch_id"`
	Events  []struct {
		ID    json.RawMessage `json:"id"`
		Topic string          `json:"event_type"` // the envelope names the topic so
	} `json:"events"`
	Remaining int64 `json:"remaining_events"`
}

// pullCall makes one pull request and decodes its JSON answer into out.
func pullCall(ctx context.Context, cfg *Config, client *http.Client, method, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := client.Do(cfg.req(ctx, method, path, nil))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

// idOf reads an envelope's id, a number or a string of digits.
func idOf(raw json.RawMessage) (uint64, error) {
	s := string(bytes.Trim(raw, `"`))
	return strconv.ParseUint(s, 10, 64)
}

// Pull measures delivery with confirmation (Inboxclaw's http_pull) at the
// endpoint PullName: it first takes and confirms whatever the endpoint
// still holds, publishes Events events to a topic under bench.pull. (the
// endpoint must deliver them: with --spawn the bench configures it), then
// Consumers concurrent loops extract batches of Batch events and confirm
// each, until every event was confirmed. It reports cycles/s, events/s,
// the latency of extracts and confirmations, and checks that every event
// came out exactly once and nothing remains.
func Pull(ctx context.Context, cfg *Config) (*Result, error) {
	name := cmp.Or(cfg.PullName, defaultPullName)
	batch := orDefault(cfg.Batch, defaultPullBatch)
	total := orDefault(cfg.Events, defaultPullEvent)
	consumers := orDefault(cfg.Consumers, 1)
	extractPath := "/" + name + "/extract?batch_size=" + strconv.Itoa(batch)
	confirmPath := "/" + name + "/mark-processed?batch_id="
	client := newClient(cfg, consumers+cfg.Publishers, false)

	cfg.progress("pull: taking what /%s/extract still holds", name)
	drained := 0
	for {
		var x extractAnswer
		if err := pullCall(ctx, cfg, client, "GET", extractPath, &x); err != nil {
			return nil, err
		}
		if x.BatchID == nil {
			break
		}
		drained += len(x.Events)
		var c struct {
			Marked int `json:"marked_count"`
		}
		if err := pullCall(ctx, cfg, client, "POST", confirmPath+strconv.FormatUint(*x.BatchID, 10), &c); err != nil {
			return nil, err
		}
	}
	topic := uniqueTopic("pull") // bench.pull.<random>
	cfg.progress("pull: publishing %d events to %s", total, topic)
	if err := fill(ctx, cfg, client, total, func(int) string { return topic }); err != nil {
		return nil, err
	}

	var mu sync.Mutex
	seen := make(map[uint64]int, total)
	var extLat, confLat, cycleLat Histogram
	var cycles, confirmed, foreign, empties atomic.Uint64
	var lastRemaining atomic.Int64
	errc := make(chan error, consumers)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mark, start := cpuNow(cfg), time.Now()
	var wg sync.WaitGroup
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var el, cl, yl Histogram
			defer func() {
				mu.Lock()
				extLat.Merge(&el)
				confLat.Merge(&cl)
				cycleLat.Merge(&yl)
				mu.Unlock()
			}()
			idle := time.Time{}
			for cctx.Err() == nil && confirmed.Load() < uint64(total) {
				t0 := time.Now()
				var x extractAnswer
				if err := pullCall(cctx, cfg, client, "GET", extractPath, &x); err != nil {
					errc <- err
					return
				}
				t1 := time.Now()
				el.Record(t1.Sub(t0))
				if x.BatchID == nil {
					// Another consumer holds the rest; give up if nothing
					// comes for 10 s.
					empties.Add(1)
					if idle.IsZero() {
						idle = t1
					} else if t1.Sub(idle) > 10*time.Second {
						errc <- fmt.Errorf("pull: extracts stayed empty with %d of %d events confirmed", confirmed.Load(), total)
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				idle = time.Time{}
				mu.Lock()
				for _, ev := range x.Events {
					id, err := idOf(ev.ID)
					if err != nil || ev.Topic != topic {
						foreign.Add(1)
						continue
					}
					seen[id]++
				}
				mu.Unlock()
				var c struct {
					Marked int `json:"marked_count"`
				}
				if err := pullCall(cctx, cfg, client, "POST", confirmPath+strconv.FormatUint(*x.BatchID, 10), &c); err != nil {
					errc <- err
					return
				}
				t2 := time.Now()
				cl.Record(t2.Sub(t1))
				yl.Record(t2.Sub(t0))
				if c.Marked != len(x.Events) {
					errc <- fmt.Errorf("pull: batch %d of %d events confirmed %d", *x.BatchID, len(x.Events), c.Marked)
					return
				}
				cycles.Add(1)
				confirmed.Add(uint64(c.Marked))
				lastRemaining.Store(x.Remaining)
			}
		}()
	}
	tick := time.NewTicker(time.Second)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-tick.C:
				cfg.progress("pull: %5.1fs confirmed %d of %d", time.Since(start).Seconds(), confirmed.Load(), total)
			case <-done:
				return
			}
		}
	}()
	wg.Wait()
	tick.Stop()
	close(done)
	elapsed := time.Since(start)
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Nothing may remain.
	var after extractAnswer
	if err := pullCall(ctx, cfg, client, "GET", extractPath, &after); err != nil {
		return nil, err
	}
	twice := 0
	for _, n := range seen {
		if n > 1 {
			twice++
		}
	}
	res := &Result{Scenario: "pull"}
	res.set("endpoint", name)
	res.set("batch", batch)
	res.set("consumers", consumers)
	res.set("events", total)
	res.set("drained_before", drained)
	res.set("duration_s", elapsed.Seconds())
	res.set("cycles", cycles.Load())
	res.set("cycles_per_s", float64(cycles.Load())/elapsed.Seconds())
	res.set("events_per_s", float64(confirmed.Load())/elapsed.Seconds())
	res.set("confirmed", confirmed.Load())
	res.set("distinct_events", len(seen))
	res.set("missing", total-len(seen))
	res.set("extracted_twice", twice)
	res.set("foreign_events", foreign.Load())
	res.set("left_after", len(after.Events))
	res.set("empty_extracts", empties.Load())
	res.set("extract_p50_ms", ms(extLat.Quantile(0.5)))
	res.set("extract_p99_ms", ms(extLat.Quantile(0.99)))
	res.set("confirm_p50_ms", ms(confLat.Quantile(0.5)))
	res.set("confirm_p99_ms", ms(confLat.Quantile(0.99)))
	res.set("cycle_p50_ms", ms(cycleLat.Quantile(0.5)))
	res.set("cycle_p99_ms", ms(cycleLat.Quantile(0.99)))
	res.cpuFigures(cfg, mark, elapsed)
	return res, nil
}
