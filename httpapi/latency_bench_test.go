package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/sse"
)

// BenchmarkLatencyBreakdown publishes b.N events at a fixed rate to many
// real detached HTTP/1.1 streams and times each event's way from the
// publish call to every subscriber's socket:
//
//   - ack: hub.Publish returned (the store committed: bolt fsyncs);
//   - offer: the dispatcher offered it to a probe subscriber (its Notify),
//     which subscribed last, so this is about when dispatch began the
//     subscribers' offers;
//   - first, last: the first and the last of the streams read it (the
//     pump's write, the loopback, this process's reader goroutine);
//   - p50, p99: over every delivery.
//
// Each is reported as the median over events (ms), and p99 over events for
// the last write. workers=0 is the pump's default (GOMAXPROCS, at least
// 2); workers=8 tries more writers than cores. The readers share the process and its two cores, as
// `ssehub bench fanout` shares the machine. docs/latency.md has the figures.
func BenchmarkLatencyBreakdown(b *testing.B) {
	for _, c := range []struct {
		subs int
		rate int
	}{{1000, 100}, {2000, 20}} {
		for _, store := range []string{"bolt", "memory"} {
			for _, workers := range []int{0, 8} {
				b.Run(fmt.Sprintf("subs=%d/rate=%d/store=%s/workers=%d", c.subs, c.rate, store, workers), func(b *testing.B) {
					benchLatency(b, c.subs, c.rate, store, func(c *hubtest.Config) { c.Stream.Workers = workers })
				})
			}
		}
	}
}

func benchLatency(b *testing.B, subs, rate int, store string, opt hubOption) {
	var th *testHub
	if store == "bolt" {
		th = newBoltHubSynced(b, opt)
	} else {
		th = newMemoryHub(b, opt)
	}
	n := b.N
	pub := make([]time.Time, n)
	ack := make([]time.Duration, n)
	offer := make([]atomic.Int64, n) // ns after pub
	first := make([]atomic.Int64, n)
	last := make([]atomic.Int64, n)
	var firstID atomic.Uint64

	index := func(id string) int {
		v, err := strconv.ParseUint(id, 10, 64)
		f := firstID.Load()
		if err != nil || f == 0 || v < f || v-f >= uint64(n) {
			return -1
		}
		return int(v - f)
	}
	since := func(i int, at time.Time) int64 { return at.Sub(pub[i]).Nanoseconds() }

	streams := make([]*rawStream, subs)
	for i := range streams {
		streams[i] = openRaw(b, th, "/events?topic=lat")
	}
	// The probe: an in-process subscriber whose Notify stamps the offer.
	var offered atomic.Int64
	wake := make(chan struct{}, 1)
	probe, err := th.hub.Subscribe(hub.SubscribeOptions{Filter: ssehub.MustFilter("lat"), Topics: []string{"lat"},
		Notify: func() {
			offered.Store(time.Now().UnixNano())
			select {
			case wake <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer probe.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		var buf []byte
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			at := time.Unix(0, offered.Load())
			buf, _ = probe.Next(buf[:0], 64<<10)
			dec := sse.NewDecoder(bytes.NewReader(buf))
			for {
				ev, err := dec.Next()
				if err != nil {
					break
				}
				if i := index(ev.ID); i >= 0 {
					offer[i].CompareAndSwap(0, since(i, at))
				}
			}
		}
	}()

	var lat [][]int64 // per reader: every delivery's latency, ns
	lat = make([][]int64, subs)
	var wg sync.WaitGroup
	for r, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.conn.SetReadDeadline(time.Now().Add(time.Minute))
			dec := sse.NewDecoder(bufio.NewReaderSize(s.body, 16<<10))
			for got := 0; got < n; {
				ev, err := dec.Next()
				if err != nil {
					b.Error(err)
					return
				}
				i := index(ev.ID)
				if i < 0 {
					continue
				}
				d := since(i, time.Now())
				got++
				lat[r] = append(lat[r], d)
				first[i].CompareAndSwap(0, d)
				for {
					l := last[i].Load()
					if d <= l || last[i].CompareAndSwap(l, d) {
						break
					}
				}
			}
		}()
	}

	// The events' ids follow the warm-up's: one publisher, one log.
	warm, err := th.hub.Publish(context.Background(), []*ssehub.Event{{Topic: "warm", Data: []byte("up")}})
	if err != nil {
		b.Fatal(err)
	}
	firstID.Store(warm[0].ID + 1)
	interval := time.Second / time.Duration(rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	b.ResetTimer()
	for i := range n {
		<-tick.C
		pub[i] = time.Now()
		ids, err := th.hub.Publish(context.Background(), []*ssehub.Event{{Topic: "lat", Data: fmt.Appendf(nil, `{"i":%d,"pad":"0123456789abcdef0123456789abcdef"}`, i)}})
		if err != nil {
			b.Fatal(err)
		}
		ack[i] = time.Since(pub[i])
		if want := firstID.Load() + uint64(i); ids[0].ID != want {
			b.Fatalf("event %d got id %d, want %d", i, ids[0].ID, want)
		}
	}
	wg.Wait()
	b.StopTimer()

	median := func(xs []int64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return float64(s[len(s)/2]) / 1e6
	}
	pct := func(xs []int64, p float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(float64(len(s))*p))]) / 1e6
	}
	load := func(a []atomic.Int64) []int64 {
		out := make([]int64, 0, len(a))
		for i := range a {
			if v := a[i].Load(); v > 0 {
				out = append(out, v)
			}
		}
		return out
	}
	acks := make([]int64, n)
	for i, d := range ack {
		acks[i] = d.Nanoseconds()
	}
	var all []int64
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	b.ReportMetric(median(acks), "ack-ms")
	if o := load(offer); len(o) > 0 {
		b.ReportMetric(median(o), "offer-ms")
	}
	b.ReportMetric(median(load(first)), "first-ms")
	b.ReportMetric(median(load(last)), "last-ms")
	b.ReportMetric(pct(load(last), 0.99), "last-p99-ms")
	b.ReportMetric(pct(all, 0.5), "p50-ms")
	b.ReportMetric(pct(all, 0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// newBoltHubSynced is newBoltHub with every commit synced, as serve runs it.
func newBoltHubSynced(t testing.TB, opts ...hubOption) *testHub {
	l, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return newTestHub(t, l, opts...)
}
