package hub

import (
	"context"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/memory"
)

var benchEvent = &ssehub.Event{ID: 123456, Topic: "orders.created", Type: "created", Key: "k-1",
	Data: []byte(`{"order":42,"total":"19.99","items":[1,2,3]}`), Time: time.Unix(1700000000, 0)}

func BenchmarkAppendSSERaw(b *testing.B) {
	var dst, scratch []byte
	b.ReportAllocs()
	for b.Loop() {
		dst, scratch = AppendSSE(dst[:0], scratch, benchEvent, FormatRaw)
	}
}

func BenchmarkAppendSSEEnvelope(b *testing.B) {
	var dst, scratch []byte
	b.ReportAllocs()
	for b.Loop() {
		dst, scratch = AppendSSE(dst[:0], scratch, benchEvent, FormatEnvelope)
	}
}

func BenchmarkPatternsMatch(b *testing.B) {
	ps, _ := ssehub.ParsePatterns("payments.*", "orders.*", "audit.log")
	b.ReportAllocs()
	for b.Loop() {
		if !ps.Match("orders.created") {
			b.Fatal("no match")
		}
	}
}

// BenchmarkDispatch measures handing one event to 1,000 live subscribers
// (encode once, enqueue a pointer each), which drain concurrently.
func BenchmarkDispatch(b *testing.B) {
	h := New(memory.New(memory.Options{}), Options{QueueSize: 1 << 16})
	ps, _ := ssehub.ParsePatterns("orders.*")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 1000
	subs := make([]*Subscriber, n)
	for i := range subs {
		subs[i] = h.Subscribe(SubscribeOptions{Match: ps, Format: FormatRaw})
		defer subs[i].Close()
	}
	done := make(chan struct{})
	go func() { // one drainer for all, so the benchmark measures dispatch
		defer close(done)
		var buf []byte
		for ctx.Err() == nil {
			for _, s := range subs {
				buf, _ = s.Next(ctx, buf[:0], 1<<20)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	ev := *benchEvent
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ev.ID = uint64(i + 1)
		_ = h.dispatch(&ev)
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "enqueues/s")
	cancel()
	<-done
}

// BenchmarkNextCoalesce measures one writer collecting 64 queued events
// into one buffer (one write, one flush).
func BenchmarkNextCoalesce(b *testing.B) {
	h := New(memory.New(memory.Options{}), Options{QueueSize: 1 << 16})
	ps, _ := ssehub.ParsePatterns("*")
	s := h.Subscribe(SubscribeOptions{Match: ps, Format: FormatRaw})
	defer s.Close()
	ctx := context.Background()
	ev := *benchEvent
	var buf []byte
	id := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for k := 0; k < 64; k++ {
			id++
			ev.ID = id
			_ = h.dispatch(&ev)
		}
		b.StartTimer()
		buf, _ = s.Next(ctx, buf[:0], 1<<20)
	}
	b.ReportMetric(64, "events/op")
}
