//go:build unix

package pebble

import (
	"context"
	"os"
	"syscall"
	"testing"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/ssehub/ssehub"
)

// tunings are pebble option sets BenchmarkBatchCPU compares
// (SSEHUB_PEBBLE_TUNE names one).
var tunings = map[string]func(*cpebble.Options){
	"default": func(*cpebble.Options) {},
	"nocompress": func(o *cpebble.Options) {
		o.ApplyCompressionSettings(func() cpebble.DBCompressionSettings { return cpebble.DBCompressionNone })
	},
	"l0-8": func(o *cpebble.Options) { o.L0CompactionThreshold, o.L0StopWritesThreshold = 8, 24 },
	"file16m": func(o *cpebble.Options) {
		o.TargetFileSizes[0] = 16 << 20
	},
	"mem64":    func(o *cpebble.Options) { o.MemTableSize = 64 << 20 },
	"lbase256": func(o *cpebble.Options) { o.LBaseMaxBytes = 256 << 20 },
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkBatchCPU: 1,000-event batches without sync, reporting the
// process's CPU per event (flushes and compactions included, up to Close).
func BenchmarkBatchCPU(b *testing.B) {
	name := os.Getenv("SSEHUB_PEBBLE_TUNE")
	if name == "" {
		name = "default"
	}
	testTune = tunings[name]
	defer func() { testTune = nil }()
	l, err := Open(b.TempDir(), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	evs := make([]*ssehub.Event, 1000)
	pad := make([]byte, 64)
	cpu0 := cpuNanos()
	n := 0
	for b.Loop() {
		for i := range evs {
			evs[i] = &ssehub.Event{Topic: "bench", Data: pad}
		}
		if _, err := l.Append(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
		n += len(evs)
	}
	l.Close()
	b.ReportMetric(float64(cpuNanos()-cpu0)/float64(n), "cpu-ns/event")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
