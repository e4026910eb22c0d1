package stream

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSweep is one pass of the sweep over 10,000 idle goroutine
// streams (none due): its cost per stream is what the sweep adds, every
// sweep interval, for each open HTTP/2 stream.
func BenchmarkSweep(b *testing.B) {
	const n = 10000
	f := New(Options{})
	e := &f.opts.Events
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range n {
		gctx, gcancel := context.WithCancel(ctx) // a cancelCtx, as net/http's stream context
		defer gcancel()
		g := &goStream{f: f, e: e, ctx: gctx, wake: make(chan struct{}, 1)}
		g.lastWrite.Store(sinceStart())
		g.next = f.goStreams
		f.goStreams = g
	}
	b.ResetTimer()
	for b.Loop() {
		f.goMu.Lock()
		f.sweepLocked(sinceStart())
		f.goMu.Unlock()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/stream")
}

// TestSweepInterval: a quarter of the shortest heartbeat, between 5 ms
// and maxSweep.
func TestSweepInterval(t *testing.T) {
	for _, c := range []struct {
		beats []time.Duration
		want  time.Duration
	}{
		{nil, maxSweep},
		{[]time.Duration{0, 30 * time.Second}, maxSweep},
		{[]time.Duration{15 * time.Second, 400 * time.Millisecond}, 100 * time.Millisecond},
		{[]time.Duration{time.Millisecond}, 5 * time.Millisecond},
	} {
		var es []*Endpoint
		for _, h := range c.beats {
			es = append(es, &Endpoint{Heartbeat: h})
		}
		if got := sweepInterval(es...); got != c.want {
			t.Errorf("%v: %v, want %v", c.beats, got, c.want)
		}
	}
}
