package storebench_test

import (
	"context"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/memory"
	"github.com/ssehub/ssehub/pebble"
)

var bg = context.Background()

// stores are the stores compared, each opened durable (fsync on) unless
// noSync.
var stores = []struct {
	name string
	open func(b *testing.B, noSync bool) ssehub.Store
}{
	{"memory", func(b *testing.B, _ bool) ssehub.Store {
		return memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 10_000_000, MaxBytes: 4 << 30}})
	}},
	{"bolt", func(b *testing.B, noSync bool) ssehub.Store {
		l, err := bolt.Open(b.TempDir(), bolt.Options{NoSync: noSync})
		if err != nil {
			b.Fatal(err)
		}
		return l
	}},
	{"pebble", func(b *testing.B, noSync bool) ssehub.Store {
		l, err := pebble.Open(b.TempDir(), pebble.Options{NoSync: noSync})
		if err != nil {
			b.Fatal(err)
		}
		return l
	}},
}

func each(b *testing.B, fn func(b *testing.B, s ssehub.Store)) {
	for _, st := range stores {
		b.Run("store="+st.name, func(b *testing.B) {
			s := st.open(b, false)
			defer s.Close()
			fn(b, s)
		})
	}
}

// BenchmarkAppend: one durable 64-byte event per Append from 32 goroutines
// (16 per core), the shape of 32 single-event HTTP publishers.
func BenchmarkAppend(b *testing.B) {
	each(b, func(b *testing.B, s ssehub.Store) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Append(bg, []*ssehub.Event{{Topic: "bench", Data: make([]byte, 64)}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkAppendBatch: durable batches of 1,000 64-byte events from 4
// goroutines (the NDJSON publish scenario's shape).
func BenchmarkAppendBatch(b *testing.B) {
	each(b, func(b *testing.B, s ssehub.Store) {
		b.SetParallelism(2)
		b.RunParallel(func(pb *testing.PB) {
			evs := make([]*ssehub.Event, 1000)
			for pb.Next() {
				for i := range evs {
					evs[i] = &ssehub.Event{Topic: "bench", Data: make([]byte, 64)}
				}
				if _, err := s.Append(bg, evs); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkReplay: read 100,000 stored events from 0, no filter, and a
// sparse topic (1 in 100) through the index.
func BenchmarkReplay(b *testing.B) {
	for _, st := range stores {
		b.Run("store="+st.name, func(b *testing.B) {
			s := st.open(b, true)
			defer s.Close()
			for i := 0; i < 100; i++ {
				evs := make([]*ssehub.Event, 1000)
				for j := range evs {
					topic := "dense"
					if j%100 == 0 {
						topic = "sparse"
					}
					evs[j] = &ssehub.Event{Topic: topic, Data: make([]byte, 64)}
				}
				if _, err := s.Append(bg, evs); err != nil {
					b.Fatal(err)
				}
			}
			for _, r := range []struct {
				name string
				f    ssehub.Filter
				want int
			}{{"all", ssehub.All(), 100_000}, {"sparse", ssehub.MustFilter("sparse"), 1000}} {
				b.Run("read="+r.name, func(b *testing.B) {
					for b.Loop() {
						n := 0
						if err := s.Read(bg, 0, r.f, func(*ssehub.Event) error { n++; return nil }); err != nil || n != r.want {
							b.Fatalf("read %d (%v), want %d", n, err, r.want)
						}
					}
					b.ReportMetric(float64(b.N*r.want)/b.Elapsed().Seconds(), "events/s")
				})
			}
		})
	}
}
