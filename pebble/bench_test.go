package pebble_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/pebble"
)

// BenchmarkAppend: one durable event per Append from 32 goroutines. The
// same benchmarks as bolt's, for a side-by-side table; the stores in one
// run: internal/storebench.
func BenchmarkAppend(b *testing.B) {
	l, err := pebble.Open(b.TempDir(), pebble.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), []*ssehub.Event{{Topic: "bench", Data: make([]byte, 64)}}); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendBatch: durable batches of 1,000 events.
func BenchmarkAppendBatch(b *testing.B) {
	l, err := pebble.Open(b.TempDir(), pebble.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	evs := make([]*ssehub.Event, 1000)
	for b.Loop() {
		for i := range evs {
			evs[i] = &ssehub.Event{Topic: "bench", Data: make([]byte, 64)}
		}
		if _, err := l.Append(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRead: stream 100,000 stored events.
func BenchmarkRead(b *testing.B) {
	l, err := pebble.Open(b.TempDir(), pebble.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 100; i++ {
		evs := make([]*ssehub.Event, 1000)
		for j := range evs {
			evs[j] = &ssehub.Event{Topic: "bench", Data: make([]byte, 64)}
		}
		if _, err := l.Append(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	for b.Loop() {
		l.Read(context.Background(), 0, ssehub.All(), func(*ssehub.Event) error { n++; return nil })
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// The sparse-replay fixture: sparseTotal events, one in sparseEvery on the
// topic "sparse" (1,000 in all), the rest on "dense". It is built once per
// test binary, with NoSync, only when a benchmark asks for it.
const (
	sparseTotal = 5_000_000
	sparseEvery = sparseTotal / 1000
)

var (
	sparseOnce sync.Once
	sparseDir  string
	sparseErr  error
)

func sparseFixture(b *testing.B) string {
	sparseOnce.Do(func() {
		start := time.Now()
		if sparseDir, sparseErr = os.MkdirTemp("", "ssehub-bench-sparse-pebble"); sparseErr != nil {
			return
		}
		l, err := pebble.Open(sparseDir, pebble.Options{NoSync: true})
		if err != nil {
			sparseErr = err
			return
		}
		defer l.Close()
		data := make([]byte, 64)
		for id := 1; id <= sparseTotal; id += pebble.DefaultMaxBatch {
			evs := make([]*ssehub.Event, min(pebble.DefaultMaxBatch, sparseTotal-id+1))
			for i := range evs {
				topic := "dense"
				if (id+i)%sparseEvery == 0 {
					topic = "sparse"
				}
				evs[i] = &ssehub.Event{Topic: topic, Data: data}
			}
			if _, err := l.Append(context.Background(), evs); err != nil {
				sparseErr = err
				return
			}
		}
		fmt.Fprintf(os.Stderr, "sparse fixture: %d events in %v\n", sparseTotal, time.Since(start).Round(time.Second))
	})
	if sparseErr != nil {
		b.Fatal(sparseErr)
	}
	return sparseDir
}

// TestMain removes the sparse-replay fixture after the benchmarks.
func TestMain(m *testing.M) {
	code := m.Run()
	if sparseDir != "" {
		os.RemoveAll(sparseDir)
	}
	os.Exit(code)
}

// BenchmarkSparseReplay: a replay from 0 of the 1,000 events of a topic
// among 5,000,000 (through the per-topic index), against reading 1,000
// events of a dense topic (a scan of the last ~1,000 ids), and against
// what a replay cost without the index (a scan of the whole log).
func BenchmarkSparseReplay(b *testing.B) {
	dir := sparseFixture(b)
	start := time.Now()
	l, err := pebble.Open(dir, pebble.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.Logf("open of %d events: %v", sparseTotal, time.Since(start).Round(time.Millisecond))
	p, _ := l.Bounds(context.Background())
	run := func(b *testing.B, after uint64, f ssehub.Filter, match string, want int) {
		for b.Loop() {
			n := 0
			err := l.Read(context.Background(), after, f, func(e *ssehub.Event) error {
				if match == "" || e.Topic == match {
					n++
				}
				if n == want {
					return errStop
				}
				return nil
			})
			if err != errStop || n != want {
				b.Fatalf("read %d events (%v), want %d", n, err, want)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(want), "ns/event")
	}
	b.Run("sparse-topic-from-0", func(b *testing.B) { run(b, 0, ssehub.MustFilter("sparse"), "", 1000) })
	b.Run("dense-topic-last-1000", func(b *testing.B) { run(b, p.Head-1001, ssehub.MustFilter("dense"), "", 1000) })
	b.Run("sparse-by-full-scan", func(b *testing.B) { run(b, 0, ssehub.All(), "sparse", 1000) })
}

var errStop = errors.New("stop")
