package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/bench"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// BenchmarkPublishHTTP: 32 concurrent clients publishing one event per
// request to a memory-store hub over loopback HTTP.
func BenchmarkPublishHTTP(b *testing.B) {
	th := newMemoryHub(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", th.srv.URL+"/publish/bench.x", strings.NewReader(`{"n":1}`))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkFanout delivers events to 200 HTTP/1.1 subscribers of a
// memory-store hub and reports the time per delivery: the write path end
// to end (dispatch, Next, the socket write) plus the subscribers' reads,
// which share the machine. "burst" publishes batches of 20 without
// waiting (throughput, with writes coalesced); "each" publishes one event
// and waits until every subscriber has it (latency: one write per
// subscriber per event). Its sub-benchmarks compare the pump with a
// goroutine per stream in one run:
//
//	go test -run '^$' -bench Fanout -count 6 ./httpapi/ | benchstat -col /mode -
func BenchmarkFanout(b *testing.B) {
	for _, shape := range []struct {
		name  string
		batch int
		wait  bool
	}{{"burst", 20, false}, {"each", 1, true}} {
		for _, m := range []struct {
			name string
			opt  hubOption
		}{{"pump", func(*hubtest.Config) {}}, {"goroutine", goroutinePerStream}} {
			b.Run("shape="+shape.name+"/mode="+m.name, func(b *testing.B) {
				benchFanout(b, m.opt, shape.batch, shape.wait)
			})
		}
	}
}

func benchFanout(b *testing.B, opt hubOption, batch int, wait bool) {
	const subs = 200
	th := newMemoryHub(b, opt)
	streams := make([]*rawStream, subs)
	for i := range streams {
		streams[i] = openRaw(b, th, "/events?topic=fan")
	}
	events := make([]*ssehub.Event, batch)
	for i := range events {
		events[i] = &ssehub.Event{Topic: "fan", Data: []byte(`{"t":0,"p":"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"}`)}
	}
	// b.N deliveries, rounded up to whole batches to every subscriber.
	rounds := (b.N + batch*subs - 1) / (batch * subs)
	want := uint64(rounds * batch)
	got := make(chan struct{}, subs)
	var wg sync.WaitGroup
	b.ResetTimer()
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rc bench.Receiver
			buf := make([]byte, 64<<10)
			s.conn.SetReadDeadline(time.Now().Add(time.Minute))
			for rc.Events < want {
				n, err := s.body.Read(buf)
				if err != nil {
					b.Error(err)
					return
				}
				before := rc.Events
				rc.Feed(buf[:n], 0)
				for range rc.Events - before {
					if wait {
						got <- struct{}{}
					}
				}
			}
		}()
	}
	for range rounds {
		if _, err := th.hub.Publish(context.Background(), events); err != nil {
			b.Fatal(err)
		}
		if wait {
			for range subs * batch {
				<-got
			}
		}
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(rounds*batch*subs)/b.Elapsed().Seconds(), "deliveries/s")
}
