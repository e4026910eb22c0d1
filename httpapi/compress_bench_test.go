package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi/stream"
)

// BenchmarkFanoutCompressed is the fan-out to 100 real HTTP/1.1 streams
// (detached, raw connections read by this process) with compression off,
// gzip and zstd, in one run: "wait" publishes one event and waits until
// every subscriber has it (a write per event, compression's worst case);
// "burst" publishes batches of 16 without waiting (many events per
// write). ns/op (wall) and cpu-ns/delivery (user and system time of the
// process) are per delivery and include the clients' reading and
// decoding, which share the process; wire-B/delivery is the body bytes the clients read
// (chunk framing removed). The server's compression alone is
// BenchmarkEncodeBatch in httpapi/stream.
func BenchmarkFanoutCompressed(b *testing.B) {
	for _, shape := range []struct {
		name  string
		batch int
		wait  bool
	}{{"wait", 1, true}, {"burst", 16, false}} {
		for _, enc := range []string{"identity", "gzip", "zstd"} {
			b.Run("shape="+shape.name+"/enc="+enc, func(b *testing.B) {
				benchFanoutCompressed(b, enc, shape.batch, shape.wait)
			})
		}
	}
}

func benchFanoutCompressed(b *testing.B, enc string, batch int, wait bool) {
	const subs = 100
	th := newMemoryHub(b, withCompression(stream.CompressionAuto))
	accept := enc
	if enc == "identity" {
		accept = ""
	}
	streams := make([]*compressedStream, subs) // format=envelope: JSON envelopes
	for i := range streams {
		streams[i] = openEncoded(b, th, "/events?topic=fan&format=envelope", accept)
		streams[i].whole = true
		if got := streams[i].encoding; got != strings.TrimPrefix(enc, "identity") {
			b.Fatalf("Content-Encoding %q, want %s", got, enc)
		}
	}
	evs := make([][]*ssehub.Event, 64)
	for r := range evs {
		evs[r] = make([]*ssehub.Event, batch)
		for i := range evs[r] {
			n := r*batch + i
			evs[r][i] = &ssehub.Event{Topic: "fan", Type: "order",
				Data: fmt.Appendf(nil, `{"order":%d,"customer":"c-%d","total":"%d.%02d","currency":"EUR","status":"ok","request":"%016x"}`,
					4000+n*7919%5000, n*104729%100000, n%500, n%100, uint64(n)*0x9E3779B97F4A7C15)}
		}
	}
	rounds := (b.N + batch*subs - 1) / (batch * subs)
	want := rounds * batch
	got := make(chan struct{}, subs)
	failed := make(chan struct{})
	var failOnce sync.Once
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0 := processCPU()
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
			dec := s.decoder(b)
			for n := 0; n < want; {
				ev, err := dec.Next()
				if err != nil {
					b.Error(err)
					failOnce.Do(func() { close(failed) })
					return
				}
				if ev.ID == "" {
					continue // not an event of ours
				}
				n++
				if wait {
					got <- struct{}{}
				}
			}
		}()
	}
	for r := range rounds {
		round := make([]*ssehub.Event, batch) // the store may keep what it is given
		for i, ev := range evs[r%len(evs)] {
			c := *ev
			c.Key = fmt.Sprint("order-", r, "-", i) // a key is an idempotency key: a repeated one is not published again
			round[i] = &c
		}
		if _, err := th.hub.Publish(context.Background(), round); err != nil {
			b.Fatal(err)
		}
		if wait {
			for range subs * batch {
				select {
				case <-got:
				case <-failed:
					b.FailNow()
				case <-time.After(5 * time.Second):
					for _, c := range th.hub.Connections() {
						if c.Queued > 0 || c.State != "live" {
							b.Logf("round %d stalled: %+v", r, c)
						}
					}
					b.Fatalf("round %d: stalled", r)
				}
			}
		}
	}
	wg.Wait()
	b.StopTimer()
	cpu := processCPU() - cpu0
	wire := 0
	for _, s := range streams {
		wire += s.raw.n
	}
	b.ReportMetric(float64(wire)/float64(rounds*batch*subs), "wire-B/delivery")
	b.ReportMetric(float64(rounds*batch*subs)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(rounds*batch*subs), "cpu-ns/delivery")
}

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
