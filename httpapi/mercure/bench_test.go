package mercure_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi/mercure"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/sse"
)

// BenchmarkPublish compares a Mercure publish (form POST, JWT verified,
// meta sealed) with ssehub's own POST /publish/{topic} of the same data,
// over the same memory store, with parallel publishers.
func BenchmarkPublish(b *testing.B) {
	e := newBenchEnv(b)
	tok := accessTokenB(b)
	body := url.Values{"topic": {"https://example.com/books/1"}, "data": {strings.Repeat("x", 200)}}.Encode()
	native := e.th.Srv.URL + "/publish/" + mercure.TopicFor("https://example.com/books/1", false)
	run := func(b *testing.B, url, ctype, auth, body string) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Content-Type", ctype)
				req.Header.Set("Authorization", "Bearer "+auth)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
	b.Run("mercure", func(b *testing.B) { run(b, e.url, "application/x-www-form-urlencoded", tok, body) })
	b.Run("native", func(b *testing.B) { run(b, native, "text/plain", hubtest.AdminToken, strings.Repeat("x", 200)) })
}

// BenchmarkFanout is one update delivered to 100 streams on one topic
// over loopback: Mercure streams (match exact, filtering every update)
// with a goroutine each and detached onto the pump, against ssehub's
// /events of the mapped topic (detached). Updates are appended with
// hub.Publish, so only delivery counts.
func BenchmarkFanout(b *testing.B) {
	const subscribers = 100
	iri := "https://example.com/books/1"
	topic := mercure.TopicFor(iri, false)
	nativeIRI := "https://example.com/topics/orders.created"
	withNative := func(o *mercure.Options) {
		o.NativeTopics, o.NativeIRIPrefix = []string{"orders.*"}, "https://example.com/topics/"
	}
	for _, c := range []struct {
		name, path string
		opts       func(*mercure.Options)
		topic      string // published on; its events are native when not under mercure.
	}{
		{"mercure-goroutine", mercure.Path + "?" + url.Values{"match": {iri}}.Encode(), func(o *mercure.Options) { o.GoroutinePerStream = true }, topic},
		{"mercure-detached", mercure.Path + "?" + url.Values{"match": {iri}}.Encode(), func(*mercure.Options) {}, topic},
		{"mercure-native-topic", mercure.Path + "?" + url.Values{"match": {nativeIRI}}.Encode(), withNative, "orders.created"},
		{"native", "/events?topic=" + topic + "&token=" + hubtest.AdminToken, func(*mercure.Options) {}, topic},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newBenchEnv(b, c.opts)
			var got atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tok := subscribeTokenB(b, nativeIRI)
			for range subscribers {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.th.Srv.URL+c.path, nil)
				if c.topic != topic {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("subscribe: %v", err)
				}
				go func() {
					defer resp.Body.Close()
					d := sse.NewDecoder(resp.Body)
					for {
						if _, err := d.Next(); err != nil {
							return
						}
						got.Add(1)
					}
				}()
			}
			m := meta(iri)
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.th.Hub.Publish(ctx, []*ssehub.Event{{Topic: c.topic, Data: []byte("payload-payload-payload"), Meta: m}}); err != nil {
					b.Fatal(err)
				}
			}
			want := int64(b.N) * subscribers
			for got.Load() < want {
				time.Sleep(time.Millisecond)
			}
			// CPU time (the process's, client side included) says more
			// than wall time on a shared machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// meta is an unsealed meta: the update counts on its decoded topic.
func meta(iri string) json.RawMessage {
	return json.RawMessage(`{"mercure":{"topics":["` + iri + `"]}}`)
}

// BenchmarkIdleStreams reports the heap and stacks one idle stream takes
// (client and server side, both in this process): Mercure streams with a
// goroutine each and detached, against /events.
func BenchmarkIdleStreams(b *testing.B) {
	const streams = 500
	iri := "https://example.com/idle"
	for _, c := range []struct {
		name, path string
		perStream  bool
	}{
		{"mercure-goroutine", mercure.Path + "?" + url.Values{"match": {iri}}.Encode(), true},
		{"mercure-detached", mercure.Path + "?" + url.Values{"match": {iri}}.Encode(), false},
		{"native", "/events?topic=" + mercure.TopicFor(iri, false) + "&token=" + hubtest.AdminToken, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				e := newBenchEnv(b, func(o *mercure.Options) { o.GoroutinePerStream = c.perStream })
				ctx, cancel := context.WithCancel(context.Background())
				heap := func() uint64 {
					runtime.GC()
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					return m.HeapInuse + m.StackInuse
				}
				before := heap()
				for range streams {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.th.Srv.URL+c.path, nil)
					resp, err := http.DefaultClient.Do(req)
					if err != nil || resp.StatusCode != 200 {
						b.Fatalf("subscribe: %v", err)
					}
					defer resp.Body.Close()
				}
				time.Sleep(100 * time.Millisecond)
				b.ReportMetric(float64(heap()-before)/streams, "B/stream")
				cancel()
			}
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
