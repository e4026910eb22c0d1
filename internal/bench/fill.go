package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// topicBatchBody returns an NDJSON body of n envelopes, the j-th on
// topicOf(j), each carrying the send time and the padding.
func topicBatchBody(dst []byte, n int, topicOf func(j int) string, pad []byte) []byte {
	dst = dst[:0]
	now := time.Now().UnixNano()
	for j := 0; j < n; j++ {
		dst = append(dst, `{"topic":"`...)
		dst = append(dst, topicOf(j)...)
		dst = append(dst, `","data":{"t":`...)
		dst = strconv.AppendInt(dst, now, 10)
		dst = append(dst, `,"p":"`...)
		dst = append(dst, pad...)
		dst = append(dst, "\"}}\n"...)
	}
	return dst
}

// fillBatch is how many events fill publishes per request.
const fillBatch = 1000

// fill publishes total events, event g on topicOf(g), in NDJSON batches
// from max(Publishers, 1) concurrent publishers, and fails if any batch is
// refused.
func fill(ctx context.Context, cfg *Config, client *http.Client, total int, topicOf func(g int) string) error {
	pad := padding(cfg.PayloadSize)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range max(cfg.Publishers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			for !failed.Load() && ctx.Err() == nil {
				first := next.Add(fillBatch) - fillBatch
				if first >= int64(total) {
					return
				}
				k := int(min(fillBatch, int64(total)-first))
				body = topicBatchBody(body, k, func(j int) string { return topicOf(int(first) + j) }, pad)
				if !postBatch(ctx, cfg, client, body) {
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if failed.Load() {
		return errPublish
	}
	return nil
}

// waitFor polls done every millisecond until it reports true, ctx ends or
// timeout passes; it reports whether done did.
func waitFor(ctx context.Context, timeout time.Duration, done func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// cpuMark is the CPU time used so far by the bench, the hub (Config.PID)
// and every spawned hub (Config.PIDs).
type cpuMark struct{ self, hub, hubs time.Duration }

func cpuNow(cfg *Config) cpuMark {
	m := cpuMark{self: cpu(), hub: procCPU(cfg.PID)}
	for _, pid := range cfg.PIDs {
		m.hubs += procCPU(pid)
	}
	return m
}

// cpuFigures sets the CPU figures of a run that took elapsed since m: the
// bench's own, the hub's when its pid is known, and all the hubs' together
// when several were spawned (100 % is one core).
func (r *Result) cpuFigures(cfg *Config, m cpuMark, elapsed time.Duration) {
	now := cpuNow(cfg)
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / elapsed.Seconds() }
	r.set("bench_cpu_percent", pct(now.self-m.self))
	if cfg.PID != 0 {
		r.set("hub_cpu_percent", pct(now.hub-m.hub))
	}
	if len(cfg.PIDs) > 1 {
		r.set("hubs_cpu_percent", pct(now.hubs-m.hubs))
	}
}

// orDefault returns v, or d when v is not positive (not given, or
// nonsense from a library caller).
func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// errorf wraps a scenario's failure with its name.
func errorf(scenario, format string, args ...any) error {
	return fmt.Errorf("%s: %s", scenario, fmt.Sprintf(format, args...))
}

// requestTimeout bounds one ingest or pull request, so that a hub that
// stops answering ends the run.
var requestTimeout = 30 * time.Second

// replayIdle is how long a replay may receive nothing before it is taken
// as ended short: a hub sends a replay without pause, and heartbeats come
// only every 15–30 s.
var replayIdle = 5 * time.Second

// consumeReplay reads a replay's stream into rc until want events came,
// and fails if the stream ends or stays silent for replayIdle before.
func consumeReplay(body io.ReadCloser, rc *Receiver, want uint64, what string) error {
	idle := time.AfterFunc(replayIdle, func() { _ = body.Close() })
	defer idle.Stop()
	err := rc.Consume(body, make([]byte, 256<<10), func(rc *Receiver) bool {
		idle.Reset(replayIdle)
		return rc.Events >= want
	})
	if rc.Events >= want {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s ended after %d of %d events: %w", what, rc.Events, want, err)
	}
	return fmt.Errorf("%s ended after %d of %d events", what, rc.Events, want)
}
