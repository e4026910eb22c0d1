package durable_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkAppendSubscriptions alternates one 100-byte append on each of
// three hubs, so all three are measured under the same load: "off" has no
// subscription APIs, "idle" 100 webhook subscriptions none of which
// matches the stream (every append is still matched against them), "woken"
// one more whose pattern matches and whose receiver answers {"done":true},
// so every append makes a wake, a signed delivery and an auto-ack. It
// reports each one's mean append latency and the ratios to "off".
func BenchmarkAppendSubscriptions(b *testing.B) {
	off := subOpts()
	off.Subscriptions.Disabled = true
	eOff, eIdle, eWoken := newEnv(b, off), newEnv(b, subOpts()), newEnv(b, subOpts())
	rc := newReceiver(b)
	rc.setAnswer(func(*hook) (int, string) { return 200, `{"done":true}` })
	for _, e := range []*env{eIdle, eWoken} {
		for i := range 100 {
			want(b, e.do("PUT", subPath+fmt.Sprint("idle-", i), webhookSub(fmt.Sprintf("other-%d/**", i), rc.url())), http.StatusCreated)
		}
	}
	want(b, eWoken.do("PUT", subPath+"woken", webhookSub("bench/*", rc.url())), http.StatusCreated)
	c := &http.Client{}
	body := strings.Repeat("x", 100)
	envs := []*env{eOff, eIdle, eWoken}
	for _, e := range envs {
		e.do("PUT", "/v1/stream/bench/s", "", "Content-Type", textPlain)
	}
	var d [3]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, e := range envs {
			t := time.Now()
			post(b, c, e.url+"/v1/stream/bench/s", textPlain, body, http.StatusNoContent)
			d[j] += time.Since(t)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(d[0].Microseconds())/float64(b.N), "off-µs/append")
	b.ReportMetric(float64(d[1].Microseconds())/float64(b.N), "idle-µs/append")
	b.ReportMetric(float64(d[2].Microseconds())/float64(b.N), "woken-µs/append")
	b.ReportMetric(float64(d[1])/float64(d[0]), "idle/off")
	b.ReportMetric(float64(d[2])/float64(d[0]), "woken/off")
	if rc.count() == 0 && b.N > 10 {
		b.Fatal("the woken hub delivered no webhook")
	}
}
