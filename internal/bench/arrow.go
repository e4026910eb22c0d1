package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	aa "github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/ssehub/ssehub/arrow"
)

// Arrow defaults: batches of 1,000 rows; ingest compares IPC with JSON
// over 2 rounds.
const (
	defaultRows        = 1000
	defaultArrowRounds = 2
)

// arrowSchema is the benchmarks' row: the schema of the ingest package's
// Go benchmarks (docs/arrow.md), so the figures compare.
var arrowSchema = aa.NewSchema([]aa.Field{
	{Name: "ts", Type: aa.PrimitiveTypes.Int64},
	{Name: "sym", Type: aa.BinaryTypes.String, Nullable: true},
	{Name: "price", Type: aa.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// ipcBody returns n rows as an Arrow IPC stream of one record batch.
func ipcBody(n int) ([]byte, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrowSchema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(1_700_000_000_000 + i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("S%d", i%7))
		b.Field(2).(*array.Float64Builder).Append(float64(i) / 4)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return arrow.EncodeBatch(arrowSchema, rec)
}

// jsonBody returns the same n rows as a JSON array of objects.
func jsonBody(n int) []byte {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"ts":%d,"sym":"S%d","price":%g}`, 1_700_000_000_000+i, i%7, float64(i)/4)
	}
	sb.WriteByte(']')
	return []byte(sb.String())
}

var hexToken = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// ingestPath is the ingest URL path for topic: POST /ingest/{token} when
// the token has the form of one the hub issues, else POST /ingest with the
// token in Authorization.
func (c *Config) ingestPath(topic string) string {
	if hexToken.MatchString(c.Token) {
		return "/ingest/" + c.Token + "?topic=" + url.QueryEscape(topic)
	}
	return "/ingest?topic=" + url.QueryEscape(topic)
}

// ingestAnswer is what one ingest returned: the batch's id and rows.
type ingestAnswer struct {
	id, rows uint64
}

// ingest posts one body and returns the hub's answer.
func ingest(ctx context.Context, cfg *Config, client *http.Client, path, ctype string, body []byte) (ingestAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req := cfg.req(ctx, "POST", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	resp, err := client.Do(req)
	if err != nil {
		return ingestAnswer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return ingestAnswer{}, fmt.Errorf("ingest: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var a ingestAnswer
	if i := bytes.Index(b, []byte(`"id":"`)); i >= 0 {
		a.id = parseUint(b[i+6:])
	}
	if i := bytes.Index(b, []byte(`"rows":`)); i >= 0 {
		a.rows = parseUint(b[i+7:])
	}
	return a, nil
}

// ArrowIngest posts batches of Rows rows (ts int64, sym utf8, price
// float64) to POST /ingest/{token} from Publishers concurrent clients, as
// an Arrow IPC stream and as a JSON array of the same rows (Bodies, by
// default both), alternating Rounds times for Duration/Rounds each, and
// reports the rows/s of each kind and their ratio. Every answer must
// count the rows sent.
func ArrowIngest(ctx context.Context, cfg *Config) (*Result, error) {
	rows := orDefault(cfg.Rows, defaultRows)
	rounds := orDefault(cfg.Rounds, defaultArrowRounds)
	kinds := cfg.Bodies
	if len(kinds) == 0 {
		kinds = []string{"ipc", "json"}
	}
	ipc, err := ipcBody(rows)
	if err != nil {
		return nil, err
	}
	bodies := map[string][]byte{"ipc": ipc, "json": jsonBody(rows)}
	ctypes := map[string]string{"ipc": arrow.MediaType, "json": "application/json"}
	base := uniqueTopic("arrow")
	client := newClient(cfg, cfg.Publishers, false)
	for _, k := range kinds {
		if bodies[k] == nil {
			return nil, errorf("arrow-ingest", "unknown body kind %q: want ipc or json", k)
		}
		// The topic's schema comes from one IPC batch, as a producer's
		// first ingest would set it; JSON rows are then converted with it.
		// A body the hub refuses (too large, say) fails the run here.
		path := cfg.ingestPath(base + "." + k)
		if _, err := ingest(ctx, cfg, client, path, arrow.MediaType, ipc); err != nil {
			return nil, errorf("arrow-ingest", "the first ipc batch: %v", err)
		}
		if k != "ipc" {
			if _, err := ingest(ctx, cfg, client, path, ctypes[k], bodies[k]); err != nil {
				return nil, errorf("arrow-ingest", "the first %s batch: %v", k, err)
			}
		}
	}
	type tally struct {
		batches, rows, errs atomic.Uint64
		took                time.Duration
		mu                  sync.Mutex
		lat                 Histogram
		lastErr             atomic.Value
	}
	tallies := map[string]*tally{}
	for _, k := range kinds {
		tallies[k] = &tally{}
	}
	phase := cfg.Duration / time.Duration(rounds)
	mark, start := cpuNow(cfg), time.Now()
	for r := range rounds {
		for _, k := range kinds {
			t, body, path := tallies[k], bodies[k], cfg.ingestPath(base+"."+k)
			cfg.progress("arrow-ingest: round %d/%d: %s, %d clients, %d rows a batch (%d bytes), for %s", r+1, rounds, k, cfg.Publishers, rows, len(body), phase)
			pctx, stop := context.WithTimeout(ctx, phase)
			t0 := time.Now()
			var wg sync.WaitGroup
			for range max(cfg.Publishers, 1) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var lat Histogram
					for pctx.Err() == nil {
						s := time.Now()
						a, err := ingest(context.WithoutCancel(pctx), cfg, client, path, ctypes[k], body)
						if err == nil && a.rows != uint64(rows) {
							err = fmt.Errorf("ingest: the hub stored %d rows of %d", a.rows, rows)
						}
						if err != nil {
							t.errs.Add(1)
							t.lastErr.Store(err.Error())
							continue
						}
						lat.Record(time.Since(s))
						t.batches.Add(1)
						t.rows.Add(a.rows)
					}
					t.mu.Lock()
					t.lat.Merge(&lat)
					t.mu.Unlock()
				}()
			}
			wg.Wait()
			stop()
			t.took += time.Since(t0)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	elapsed := time.Since(start)
	res := &Result{Scenario: "arrow-ingest"}
	res.set("clients", cfg.Publishers)
	res.set("rows_per_batch", rows)
	res.set("rounds", rounds)
	for _, k := range kinds {
		t := tallies[k]
		res.set(k+"_body_bytes", len(bodies[k]))
		res.set(k+"_batches", t.batches.Load())
		res.set(k+"_rows_per_s", float64(t.rows.Load())/t.took.Seconds())
		res.set(k+"_mb_per_s", float64(t.batches.Load())*float64(len(bodies[k]))/t.took.Seconds()/1e6)
		res.set(k+"_ack_p50_ms", ms(t.lat.Quantile(0.5)))
		res.set(k+"_ack_p99_ms", ms(t.lat.Quantile(0.99)))
		res.set(k+"_errors", t.errs.Load())
		if e, ok := t.lastErr.Load().(string); ok {
			res.set(k+"_last_error", e)
		}
	}
	if len(kinds) == 2 {
		a, b := tallies[kinds[0]], tallies[kinds[1]]
		if rb := float64(b.rows.Load()) / b.took.Seconds(); rb > 0 {
			res.set(kinds[0]+"_vs_"+kinds[1], float64(a.rows.Load())/a.took.Seconds()/rb)
		}
	}
	res.cpuFigures(cfg, mark, elapsed)
	return res, nil
}

// ArrowFanout runs Subscribers subscribers of an Arrow stream
// (GET /events?topic=T&format=arrow, each batch a base64 IPC stream) and
// Publishers clients ingesting IPC batches of Rows rows for Duration (at
// most Rate batches/s in all; 0 = as fast as they are acknowledged); then
// waits for every subscriber to have every batch. It reports rows and
// batches delivered per second, loss, duplicates, and the latency of each
// delivery from the moment its ingest was sent.
func ArrowFanout(ctx context.Context, cfg *Config) (*Result, error) {
	rows := orDefault(cfg.Rows, defaultRows)
	body, err := ipcBody(rows)
	if err != nil {
		return nil, err
	}
	topic := uniqueTopic("arrowfan")
	path := cfg.ingestPath(topic)
	client := newClient(cfg, cfg.Publishers, false)
	// The topic's schema first, so every subscriber starts with it.
	first, err := ingest(ctx, cfg, client, path, arrow.MediaType, body)
	if err != nil {
		return nil, err
	}
	cfg.progress("arrow-fanout: connecting %d subscribers", cfg.Subscribers)
	subs, err := openSubscribersAt(ctx, cfg, func(int) string {
		return "/events?topic=" + url.QueryEscape(topic) + "&format=arrow"
	}, cfg.Subscribers, func(rc *Receiver) { rc.KeepArrivals = true })
	if err != nil {
		return nil, err
	}
	defer func() {
		if subs != nil {
			subs.close()
		}
	}()

	var mu sync.Mutex
	sent := map[uint64]int64{} // batch id → when its ingest was sent (unix ns)
	var ackLat Histogram
	var batches, errs, maxID atomic.Uint64
	var lastErr atomic.Value
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(max(cfg.Publishers, 1)) / cfg.Rate)
	}
	cfg.progress("arrow-fanout: ingesting %d-row batches with %d clients for %s", rows, cfg.Publishers, cfg.Duration)
	// The scrape first: on a busy machine it can take longer than a short
	// --duration, which must count from the first ingest.
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
				t0 := time.Now()
				a, err := ingest(context.WithoutCancel(pctx), cfg, client, path, arrow.MediaType, body)
				if err != nil {
					errs.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				lat.Record(time.Since(t0))
				mu.Lock()
				sent[a.id] = t0.UnixNano()
				mu.Unlock()
				batches.Add(1)
				for {
					cur := maxID.Load()
					if a.id <= cur || maxID.CompareAndSwap(cur, a.id) {
						break
					}
				}
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
				cfg.progress("arrow-fanout: %5.1fs ingested %d batches, delivered %d", time.Since(start).Seconds(), batches.Load(), subs.delivered.Load())
			case <-pctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	tick.Stop()
	pubEnd := time.Since(start)
	last := maxID.Load()
	waitFor(ctx, 60*time.Second, func() bool {
		for i := range subs.seen {
			if subs.seen[i].Load() < last {
				return false
			}
		}
		return true
	})
	elapsed := time.Since(start)
	subs.close()
	var lat Histogram
	var got, dups, unknown uint64
	for _, rc := range subs.recv {
		got += rc.Events
		dups += rc.Dups
		for _, a := range rc.Arrivals {
			if t, ok := sent[a.ID]; ok {
				lat.Record(time.Duration(a.At - t))
			} else if a.ID != first.id {
				unknown++
			}
		}
	}
	subs = nil
	n := batches.Load()
	want := n * uint64(cfg.Subscribers)
	res := &Result{Scenario: "arrow-fanout"}
	res.set("subscribers", cfg.Subscribers)
	res.set("clients", cfg.Publishers)
	res.set("rows_per_batch", rows)
	res.set("batch_bytes", len(body))
	res.set("duration_s", pubEnd.Seconds())
	res.set("batches_ingested", n)
	res.set("ingest_errors", errs.Load())
	if e, ok := lastErr.Load().(string); ok {
		res.set("last_error", e)
	}
	res.set("batches_per_s", float64(n)/pubEnd.Seconds())
	res.set("batches_delivered", got)
	res.set("rows_delivered_per_s", float64(got)*float64(rows)/elapsed.Seconds())
	res.set("ipc_mb_delivered_per_s", float64(got)*float64(len(body))/elapsed.Seconds()/1e6)
	res.set("lost", int64(want)-int64(got))
	res.set("duplicates", dups)
	res.set("unknown_ids", unknown)
	res.set("latency_p50_ms", ms(lat.Quantile(0.50)))
	res.set("latency_p99_ms", ms(lat.Quantile(0.99)))
	res.set("latency_max_ms", ms(lat.Max()))
	res.set("ingest_ack_p99_ms", ms(ackLat.Quantile(0.99)))
	res.cpuFigures(cfg, mark, elapsed)
	if writes1, err := cfg.metric(ctx, "ssehub_stream_writes_total"); err == nil && writesErr == nil && writes1 > writes0 {
		res.set("events_per_write", float64(got)/(writes1-writes0))
	}
	return res, nil
}
