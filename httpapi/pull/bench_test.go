package pull_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi/pull"
)

// BenchmarkExtractConfirm measures the extract + mark-processed cycle over
// real HTTP on loopback against a bolt store (every extract and every
// confirmation is one durable KV write): one op is a batch of size events
// taken and confirmed; events/s is the throughput.
func BenchmarkExtractConfirm(b *testing.B) {
	for _, size := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			ep := jobsEndpoint()
			ep.MaxBatchSize = 1000
			e := newEnv(b, boltStore(b, b.TempDir()), pull.Options{Endpoints: []pull.Endpoint{ep}, Now: time.Now})
			topics := make([]string, 1000)
			for i := range topics {
				topics[i] = fmt.Sprintf("jobs.t%d", i%8)
			}
			published := 0
			fill := func(n int) {
				for published < n {
					e.publish(topics...)
					published += len(topics)
				}
			}
			fill(b.N*size + size)
			q := fmt.Sprintf("?batch_size=%d", size)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				x := e.extract(q)
				if len(x.Events) != size {
					b.Fatalf("extract: %d events, want %d", len(x.Events), size)
				}
				if c := e.confirm(*x.BatchID); c.Marked != size {
					b.Fatalf("confirm: %+v", c)
				}
			}
			b.ReportMetric(float64(b.N*size)/time.Since(start).Seconds(), "events/s")
		})
	}
}
