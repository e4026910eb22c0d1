package durable_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// post sends one append with the shared client and checks its status.
func post(b *testing.B, c *http.Client, url, ct, body string, ok int) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", ct)
	res, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != ok {
		b.Fatalf("status %d", res.StatusCode)
	}
}

// BenchmarkAppend compares a Durable Streams append with an ssehub publish
// of the same bytes to one topic (sub-benchmarks side by side, so one run
// interleaves them), from 1 and from 16 concurrent clients, to one stream
// and to a stream per client.
// Each sub-benchmark has a hub of its own on a fresh bolt file, so neither
// pays for the other's file growth.
func BenchmarkAppend(b *testing.B) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := strings.Repeat("x", 100)
	for _, par := range []int{1, 16} {
		var n atomic.Int64
		for _, streams := range []string{"one", "each"} {
			if par == 1 && streams == "each" {
				continue
			}
			b.Run(fmt.Sprintf("api=durable/clients=%d/streams=%s", par, streams), func(b *testing.B) {
				b.SetParallelism(par)
				e := newEnv(b, publicOpts())
				e.do("PUT", "/v1/stream/bench/one", "", "Content-Type", textPlain)
				b.RunParallel(func(pb *testing.PB) {
					p := "/v1/stream/bench/one"
					if streams == "each" {
						p = fmt.Sprintf("/v1/stream/bench/each-%d", n.Add(1))
						e.do("PUT", p, "", "Content-Type", textPlain)
					}
					for pb.Next() {
						post(b, c, e.url+p, textPlain, body, http.StatusNoContent)
					}
				})
			})
			b.Run(fmt.Sprintf("api=publish/clients=%d/streams=%s", par, streams), func(b *testing.B) {
				b.SetParallelism(par)
				e := newEnv(b, publicOpts())
				b.RunParallel(func(pb *testing.PB) {
					topic := "bench.one"
					if streams == "each" {
						topic = fmt.Sprintf("bench.each-%d", n.Add(1))
					}
					u := e.url + "/publish/" + topic + "?token=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
					for pb.Next() {
						post(b, c, u, textPlain, body, http.StatusOK)
					}
				})
			})
		}
	}
}

// BenchmarkCatchUp reads a 1,000-append stream from the start (one
// response of about 100 KB).
func BenchmarkCatchUp(b *testing.B) {
	e := newEnv(b, publicOpts())
	const p = "/v1/stream/bench/read"
	e.mustCreate(p, textPlain, "")
	body := strings.Repeat("y", 100)
	c := &http.Client{}
	for i := 0; i < 1000; i++ {
		post(b, c, e.url+p, textPlain, body, http.StatusNoContent)
	}
	b.SetBytes(100 * 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := c.Get(e.url + p + "?offset=-1")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if n != 100*1000 {
			b.Fatalf("read %d bytes", n)
		}
	}
}

// BenchmarkAppendVsPublish alternates a Durable Streams append and an
// ssehub publish of the same 100 bytes from one client, on one hub, so the
// two are measured under the same load and file growth: it reports each
// one's mean latency and their ratio.
func BenchmarkAppendVsPublish(b *testing.B) {
	e := newEnv(b, publicOpts())
	c := &http.Client{}
	e.do("PUT", "/v1/stream/bench/ab", "", "Content-Type", textPlain)
	body := strings.Repeat("x", 100)
	ds, pub := e.url+"/v1/stream/bench/ab", e.url+"/publish/bench.ab?token=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var a, p time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		post(b, c, ds, textPlain, body, http.StatusNoContent)
		a += time.Since(t)
		t = time.Now()
		post(b, c, pub, textPlain, body, http.StatusOK)
		p += time.Since(t)
	}
	b.ReportMetric(float64(a.Microseconds())/float64(b.N), "durable-µs/append")
	b.ReportMetric(float64(p.Microseconds())/float64(b.N), "publish-µs/append")
	b.ReportMetric(float64(a)/float64(p), "durable/publish")
}

// BenchmarkViewVsStreamCatchUp alternates a catch-up read of a native
// topic's view and of a JSON stream holding the same 1,000 messages
// (about 40 KB), on one hub: it reports each one's mean latency and their
// ratio.
func BenchmarkViewVsStreamCatchUp(b *testing.B) {
	o := publicOpts()
	o.NativeTopics, o.NativePublicRead = []string{"bench.*"}, true
	e := newEnv(b, o)
	c := &http.Client{}
	const sp = "/v1/stream/bench/json"
	e.mustCreate(sp, "application/json", "")
	pub := e.url + "/publish/bench.view?token=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for i := 0; i < 1000; i++ {
		msg := fmt.Sprintf(`{"n":%d,"pad":"0123456789012345678901"}`, i)
		post(b, c, e.url+sp, "application/json", msg, http.StatusNoContent)
		post(b, c, pub, "application/json", msg, http.StatusOK)
	}
	get := func(u string) int64 {
		res, err := c.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
		return n
	}
	if v, s := get(e.url+"/v1/stream/_topics/bench.view?offset=-1"), get(e.url+sp+"?offset=-1"); v != s {
		b.Fatalf("view %d bytes, stream %d", v, s)
	}
	var tv, ts time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		get(e.url + "/v1/stream/_topics/bench.view?offset=-1")
		tv += time.Since(t)
		t = time.Now()
		get(e.url + sp + "?offset=-1")
		ts += time.Since(t)
	}
	b.ReportMetric(float64(tv.Microseconds())/float64(b.N), "view-µs/read")
	b.ReportMetric(float64(ts.Microseconds())/float64(b.N), "stream-µs/read")
	b.ReportMetric(float64(tv)/float64(ts), "view/stream")
}

// BenchmarkViewVsStreamWake alternates a long-poll on a view woken by a
// native publish and one on a stream woken by an append, on one hub: the
// time from the write's start to the long-poll's answer, each one's mean
// and their ratio.
func BenchmarkViewVsStreamWake(b *testing.B) {
	o := publicOpts()
	o.NativeTopics, o.NativePublicRead = []string{"bench.*"}, true
	o.LongPollTimeout = 10 * time.Second
	e := newEnv(b, o)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	const sp = "/v1/stream/bench/wake"
	e.mustCreate(sp, "application/json", "")
	pub := e.url + "/publish/bench.wake?token=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	wake := func(read string, write func()) time.Duration {
		tail := e.do("HEAD", read, "").h("Stream-Next-Offset")
		done := make(chan time.Time, 1)
		go func() {
			res, err := c.Get(e.url + read + "?offset=" + tail + "&live=long-poll")
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			done <- time.Now()
		}()
		time.Sleep(2 * time.Millisecond) // let it reach the wait
		t := time.Now()
		write()
		return (<-done).Sub(t)
	}
	var tv, ts time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tv += wake("/v1/stream/_topics/bench.wake", func() { post(b, c, pub, "application/json", `{"x":1}`, http.StatusOK) })
		ts += wake(sp, func() { post(b, c, e.url+sp, "application/json", `{"x":1}`, http.StatusNoContent) })
	}
	b.ReportMetric(float64(tv.Microseconds())/float64(b.N), "view-µs/wake")
	b.ReportMetric(float64(ts.Microseconds())/float64(b.N), "stream-µs/wake")
	b.ReportMetric(float64(tv)/float64(ts), "view/stream")
}
