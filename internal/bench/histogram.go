// Package bench is the load generator behind `ssehub bench`: scenarios that
// drive a hub over real HTTP and measure throughput, latency, loss and
// memory, reading streams in large chunks with no allocation per event.
package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations with under 1.6% error in fixed memory: each
// power-of-two range of nanoseconds is split into 64 linear buckets.
type Histogram struct {
	counts [64 * 64]uint64
	n      uint64
	max    time.Duration
}

func bucketOf(ns uint64) int {
	if ns < 64 {
		return int(ns)
	}
	shift := bits.Len64(ns) - 7 // keep the top 7 bits: a mantissa in [64, 128)
	return (shift+1)*64 + int(ns>>uint(shift)) - 64
}

func lowerBound(b int) uint64 {
	if b < 64 {
		return uint64(b)
	}
	shift := b/64 - 1
	mant := uint64(b%64) + 64
	return mant << uint(shift)
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	b := bucketOf(uint64(d))
	if b >= len(h.counts) {
		b = len(h.counts) - 1
	}
	h.counts[b]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded duration.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the duration below which a fraction q of the records fall.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			d := time.Duration(lowerBound(b))
			if d > h.max {
				d = h.max
			}
			return d
		}
	}
	return h.max
}
