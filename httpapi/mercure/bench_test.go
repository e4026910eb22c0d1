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
// over loopback: Mercure streams (match exact; a goroutine each, filtering
// every update) against ssehub's /events of the mapped topic (detached
// streams). Updates are appended with hub.Publish, so only delivery counts.
func BenchmarkFanout(b *testing.B) {
	const subscribers = 100
	iri := "https://example.com/books/1"
	topic := mercure.TopicFor(iri, false)
	for _, c := range []struct{ name, path string }{
		{"mercure", mercure.Path + "?" + url.Values{"match": {iri}}.Encode()},
		{"native", "/events?topic=" + topic + "&token=" + hubtest.AdminToken},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newBenchEnv(b)
			var got atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for range subscribers {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.th.Srv.URL+c.path, nil)
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
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.th.Hub.Publish(ctx, []*ssehub.Event{{Topic: topic, Data: []byte("payload-payload-payload"), Meta: m}}); err != nil {
					b.Fatal(err)
				}
			}
			want := int64(b.N) * subscribers
			for got.Load() < want {
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// meta is an unsealed meta: the update counts on its decoded topic.
func meta(iri string) json.RawMessage {
	return json.RawMessage(`{"mercure":{"topics":["` + iri + `"]}}`)
}

// BenchmarkIdleStreams reports the heap one idle stream takes (client and
// server side, both in this process), Mercure against /events: a Mercure
// stream holds no buffer while idle, but keeps its handler goroutine.
func BenchmarkIdleStreams(b *testing.B) {
	const streams = 500
	iri := "https://example.com/idle"
	for _, c := range []struct{ name, path string }{
		{"mercure", mercure.Path + "?" + url.Values{"match": {iri}}.Encode()},
		{"native", "/events?topic=" + mercure.TopicFor(iri, false) + "&token=" + hubtest.AdminToken},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				e := newBenchEnv(b)
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
