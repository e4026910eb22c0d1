package stream

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
)

func TestNegotiate(t *testing.T) {
	for _, c := range []struct {
		mode   Compression
		accept []string
		want   encoding
	}{
		{CompressionOff, []string{"gzip, zstd"}, identity},
		{"", []string{"gzip"}, identity},
		{"bogus", []string{"gzip"}, identity},
		{CompressionGzip, nil, identity},
		{CompressionGzip, []string{""}, identity},
		{CompressionGzip, []string{"gzip"}, encGzip},
		{CompressionGzip, []string{"GZip"}, encGzip},
		{CompressionGzip, []string{"x-gzip"}, encGzip},
		{CompressionGzip, []string{"deflate", "gzip;q=0.2"}, encGzip}, // two header lines
		{CompressionGzip, []string{"gzip;q=0"}, identity},
		{CompressionGzip, []string{"gzip ; Q=0.0"}, identity},
		{CompressionGzip, []string{"gzip;q=2"}, identity},
		{CompressionGzip, []string{"gzip;q="}, identity},
		{CompressionGzip, []string{"gzip;level=1"}, encGzip},
		{CompressionGzip, []string{"*"}, encGzip},
		{CompressionGzip, []string{"*;q=0"}, identity},
		{CompressionGzip, []string{"*, gzip;q=0"}, identity}, // its own q wins over *
		{CompressionGzip, []string{"gzip;q=0, *"}, identity},
		{CompressionGzip, []string{"gzip2, agzip"}, identity},
		{CompressionGzip, []string{"zstd"}, identity},
		{CompressionZstd, []string{"gzip"}, identity},
		{CompressionZstd, []string{"zstd"}, encZstd},
		{CompressionAuto, []string{"gzip, deflate, br, zstd"}, encGzip},
		{CompressionAuto, []string{"gzip, deflate, br"}, encGzip},
		{CompressionAuto, []string{"zstd, br"}, encZstd},
		{CompressionAuto, []string{"zstd, gzip;q=0.5"}, encZstd},
		{CompressionAuto, []string{"zstd;q=0.5, gzip;q=0.5"}, encGzip},
		{CompressionAuto, []string{"zstd;q=0, gzip;q=0"}, identity},
		{CompressionAuto, []string{"identity"}, identity},
	} {
		h := http.Header{}
		for _, a := range c.accept {
			h.Add("Accept-Encoding", a)
		}
		if got := c.mode.negotiate(h); got != c.want {
			t.Errorf("%q with Accept-Encoding %q: %v, want %v", c.mode, c.accept, got, c.want)
		}
	}
}

// decodeAll decodes a whole compressed body, checking gzip's trailer.
func decodeAll(t testing.TB, enc encoding, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case encGzip:
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		r = zr
	case encZstd:
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%v: %v", enc, err)
	}
	return out
}

// TestEncoderRoundTrip: batches of every size, a ping and an end decode to
// exactly what went in, each batch decodable as soon as it is written (a
// decoder fed only the bytes so far returns every byte so far), with many
// streams compressing at once from the shared pools.
func TestEncoderRoundTrip(t *testing.T) {
	for _, enc := range []encoding{encGzip, encZstd} {
		t.Run(enc.String(), func(t *testing.T) {
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					e := newEncoder(enc)
					var body, want []byte
					for i := range 40 {
						plain := bytes.Repeat(fmt.Appendf(nil, "data: stream %d batch %d\n\n", g, i), i*i)
						body = e.appendBatch(body, plain)
						want = append(want, plain...)
						if i%10 == 3 && enc == encGzip {
							// Flushed: a reader sees every byte written so far.
							zr, err := gzip.NewReader(bytes.NewReader(body))
							if err != nil {
								t.Error(err)
								return
							}
							got := make([]byte, len(want))
							if _, err := io.ReadFull(zr, got); err != nil || !bytes.Equal(got, want) {
								t.Errorf("stream %d: after batch %d the reader got %d bytes (%v)", g, i, len(got), err)
								return
							}
						}
					}
					body = e.appendBatch(body, nil) // nothing: no bytes
					body = e.appendBatch(body, []byte(":keepalive\n\n"))
					want = append(want, ":keepalive\n\n"...)
					body = e.appendEnd(body, []byte("event: error\ndata: bye\n\n"))
					want = append(want, "event: error\ndata: bye\n\n"...)
					if got := decodeAll(t, enc, body); !bytes.Equal(got, want) {
						t.Errorf("stream %d: decoded %d bytes, want %d", g, len(got), len(want))
					}
				})
			}
			wg.Wait()
		})
	}
}

// TestEncoderEmptyEnd: a gzip stream that ends before any byte is still a
// whole gzip body.
func TestEncoderEmptyEnd(t *testing.T) {
	e := newEncoder(encGzip)
	if got := decodeAll(t, encGzip, e.appendEnd(nil, nil)); len(got) != 0 {
		t.Fatalf("decoded %q", got)
	}
	if newEncoder(identity) != nil {
		t.Fatal("identity has an encoder")
	}
	var none *streamEncoder
	if b := none.compress([]byte("x")); string(b) != "x" {
		t.Fatalf("nil encoder changed the bytes: %q", b)
	}
}

// envelopes returns n SSE frames of JSON envelopes such as a hub sends:
// the same keys and topics, different values, and a random request id in
// each (which no compressor can shrink).
func envelopes(n int) [][]byte {
	out := make([][]byte, n)
	t0 := time.Unix(1764590000, 0)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range out {
		ev := &ssehub.Event{ID: uint64(100000 + i), Topic: fmt.Sprintf("orders.%s", []string{"created", "paid", "shipped"}[i%3]),
			Type: "order", Key: "order-" + strconv.Itoa(4000+rnd.IntN(5000)),
			Data: fmt.Appendf(nil, `{"order":%d,"customer":"c-%d","total":"%d.%02d","currency":"EUR","items":[{"sku":"SKU-%d","qty":%d}],"status":"ok","request":"%016x"}`,
				4000+rnd.IntN(5000), rnd.IntN(100000), rnd.IntN(500), rnd.IntN(100), rnd.IntN(10000), 1+rnd.IntN(9), rnd.Uint64()),
			Time: t0.Add(time.Duration(i)*7*time.Millisecond + time.Duration(rnd.IntN(1e6)))}
		out[i] = format.Envelope.Encode(nil, ev, strconv.FormatUint(ev.ID, 10))
	}
	return out
}

// BenchmarkEncodeBatch is what compressing costs a stream per event, and
// what it saves, by how many events one write carries: gzip (ours: a
// pooled compressor per write, its window primed with the stream's last
// gzipTail bytes), gzip-fresh (the same with an empty window), gzip-kept
// (a compressor held by the stream for its whole life, its 32 KiB window
// carried across writes, as a persistent gzip.Writer would) and zstd (a
// frame per write). It reports wire bytes per event and, in the kept case,
// the heap one held compressor costs.
func BenchmarkEncodeBatch(b *testing.B) {
	evs := envelopes(4096)
	var plainSize int
	for _, e := range evs {
		plainSize += len(e)
	}
	for _, per := range []int{1, 4, 16, 64} {
		batches := make([][]byte, 0, len(evs)/per)
		for i := 0; i+per <= len(evs); i += per {
			var batch []byte
			for _, e := range evs[i : i+per] {
				batch = append(batch, e...)
			}
			batches = append(batches, batch)
		}
		run := func(name string, newEnc func() func(dst, plain []byte) []byte) {
			b.Run(fmt.Sprintf("events=%d/enc=%s", per, name), func(b *testing.B) {
				enc := newEnc()
				var out []byte
				var wire, events int
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					batch := batches[i%len(batches)]
					out = enc(out[:0], batch)
					wire += len(out)
					events += per
				}
				b.ReportMetric(float64(wire)/float64(events), "wire-B/event")
				b.ReportMetric(float64(plainSize)/float64(len(evs)), "plain-B/event")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
			})
		}
		run("identity", func() func(dst, plain []byte) []byte {
			return func(dst, plain []byte) []byte { return append(dst, plain...) }
		})
		run("gzip", func() func(dst, plain []byte) []byte { return newEncoder(encGzip).appendBatch })
		run("zstd", func() func(dst, plain []byte) []byte { return newEncoder(encZstd).appendBatch })
		run("gzip-kept", func() func(dst, plain []byte) []byte {
			var out appendBuf
			w, _ := flate.NewWriter(&out, flateLevel)
			return func(dst, plain []byte) []byte {
				out.b = dst
				_, _ = w.Write(plain)
				_ = w.Flush()
				return out.b
			}
		})
		run("gzip-fresh", func() func(dst, plain []byte) []byte {
			return func(dst, plain []byte) []byte { return deflate(dst, plain, nil, false) }
		})
	}
	b.Run("held-compressor-heap", func(b *testing.B) {
		for b.Loop() {
		}
		for _, level := range []int{flateLevel} {
			const n = 50
			before := heap()
			ws := make([]*flate.Writer, n)
			for i := range ws {
				ws[i], _ = flate.NewWriter(io.Discard, level)
				_, _ = ws[i].Write(evs[i])
				_ = ws[i].Flush()
			}
			b.ReportMetric(float64(heap()-before)/n, fmt.Sprintf("B/compressor-L%d", level))
			runtime.KeepAlive(ws)
		}
	})
}

func heap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
