package sse_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// benchStream is the decode benchmark input: 10,000 events, each with an
// id (a sequence number), an event type (one of 5 names) and 1 to 3 data
// lines of about 100 bytes of JSON, LF line ends. About 2.3 MB in total.
var benchStream = sync.OnceValue(func() []byte {
	r := rand.New(rand.NewPCG(42, 7))
	types := []string{"order.created", "order.updated", "price", "heartbeat", "user.presence"}
	var buf []byte
	for i := range 10_000 {
		var data strings.Builder
		for l := range 1 + r.IntN(3) {
			if l > 0 {
				data.WriteByte('\n')
			}
			fmt.Fprintf(&data, `{"seq":%d,"entity":"ent-%06d","qty":%d,"price":%d.%02d,"note":"lorem ipsum dolor sit"}`,
				i, r.IntN(1_000_000), r.IntN(1000), r.IntN(10_000), r.IntN(100))
		}
		var err error
		buf, err = sse.AppendEvent(buf, &sse.Event{
			ID:   fmt.Sprint(100_000 + i),
			Type: types[r.IntN(len(types))],
			Data: []byte(data.String()),
		})
		if err != nil {
			panic(err)
		}
	}
	return buf
})

// BenchmarkDecode decodes benchStream (see there) to the end per iteration.
func BenchmarkDecode(b *testing.B) {
	in := benchStream()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		d := sse.NewDecoder(bytes.NewReader(in))
		n := 0
		for {
			_, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 10_000 {
			b.Fatalf("decoded %d events", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10_000), "ns/event")
}

// BenchmarkAppendEvent encodes one typical event (id, type, 2 lines of
// about 100 bytes of JSON) into a reused buffer.
func BenchmarkAppendEvent(b *testing.B) {
	line := `{"seq":12345,"entity":"ent-004711","qty":17,"price":1234.56,"note":"lorem ipsum dolor sit"}`
	ev := &sse.Event{ID: "112345", Type: "order.updated", Data: []byte(line + "\n" + line), Retry: 3 * time.Second}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = sse.AppendEvent(buf[:0], ev)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func newDecoder(in []byte) *sse.Decoder { return sse.NewDecoder(bytes.NewReader(in)) }
