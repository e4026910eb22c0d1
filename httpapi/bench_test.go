package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkPublishHTTP: 32 concurrent clients publishing one event per
// request to a memory-store hub over loopback HTTP.
func BenchmarkPublishHTTP(b *testing.B) {
	t := &testing.T{}
	th := newMemoryHub(t)
	defer th.srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", th.srv.URL+"/publish/bench.x", strings.NewReader(`{"n":1}`))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
