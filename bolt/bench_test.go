package bolt_test

import (
	"context"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
)

// BenchmarkAppend: one durable event per Append from 32 goroutines.
func BenchmarkAppend(b *testing.B) {
	l, err := bolt.Open(b.TempDir(), bolt.Options{})
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
	l, err := bolt.Open(b.TempDir(), bolt.Options{})
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
	l, err := bolt.Open(b.TempDir(), bolt.Options{NoSync: true})
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
