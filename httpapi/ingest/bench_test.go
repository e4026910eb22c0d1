package ingest_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/arrow"
	"github.com/ssehub/ssehub/httpapi/ingest"
)

// benchRows is the batch size of the benchmarks: the target is
// stated for IPC batches of 1,000 rows.
const benchRows = 1000

// benchClient posts over keep-alive loopback connections.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}

func benchPost(b *testing.B, url, ct string, body []byte) {
	resp, err := benchClient.Post(url, ct, bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("status %d", resp.StatusCode)
	}
}

// BenchmarkArrowIngestIPC: POST /ingest of 1,000-row IPC batches (ts int64,
// sym utf8, price float64) from 16 concurrent clients over loopback HTTP
// into a bolt store that fsyncs every commit; rows/s is the throughput.
func BenchmarkArrowIngestIPC(b *testing.B) {
	e := newEnv(b, ingest.Options{})
	body := batchOf(b, schemaV1, 0, benchRows)
	url := e.url + "/ingest/" + adminToken + "?topic=bench.ipc"
	benchPost(b, url, arrow.MediaType, body)
	b.SetBytes(int64(len(body)))
	b.SetParallelism(8) // 16 clients on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchPost(b, url, arrow.MediaType, body)
		}
	})
	b.ReportMetric(float64(b.N*benchRows)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkArrowIngestJSON: the same rows as a JSON array, converted with
// the topic's schema.
func BenchmarkArrowIngestJSON(b *testing.B) {
	e := newEnv(b, ingest.Options{})
	url := e.url + "/ingest/" + adminToken + "?topic=bench.json"
	benchPost(b, url, arrow.MediaType, batchOf(b, schemaV1, 0, 1))
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range benchRows {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"ts":%d,"sym":"S%d","price":%g}`, 1700000000000+i, i%7, float64(i)/4)
	}
	sb.WriteByte(']')
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchPost(b, url, "application/json", body)
		}
	})
	b.ReportMetric(float64(b.N*benchRows)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkArrowFanout: 1,000 subscribers of an arrow stream on loopback
// HTTP/1.1 connections (served by the stream feature's shared writers);
// each op ingests one 1,000-row batch, and the clock stops when every
// subscriber has received every batch. rows/s counts rows delivered (rows
// × subscribers).
func BenchmarkArrowFanout(b *testing.B) {
	const subs = 1000
	e := newEnv(b, ingest.Options{})
	url := e.url + "/ingest/" + adminToken + "?topic=bench.fan"
	body := batchOf(b, schemaV1, 0, benchRows)
	benchPost(b, url, arrow.MediaType, body) // the topic's schema
	addr := strings.TrimPrefix(e.url, "http://")

	var got atomic.Int64 // batch events received by all subscribers
	var wg sync.WaitGroup
	conns := make([]net.Conn, 0, subs)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	for range subs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /arrowlive/ HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := bufio.NewReaderSize(c, 256<<10)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if bytes.HasPrefix(line, []byte("event: batch")) {
					got.Add(1)
				}
			}
		}()
	}
	// Every subscriber is attached once it has its schema event: wait for
	// them with one batch.
	benchPost(b, url, arrow.MediaType, body)
	waitCount(b, &got, subs)
	got.Store(0)
	b.SetBytes(int64(len(body)) * subs)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		benchPost(b, url, arrow.MediaType, body)
	}
	waitCount(b, &got, int64(b.N)*subs)
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchRows*subs)/el.Seconds(), "rows/s")
	b.ReportMetric(float64(b.N)/el.Seconds(), "batches/s")
}

func waitCount(b *testing.B, n *atomic.Int64, want int64) {
	deadline := time.Now().Add(5 * time.Minute)
	for n.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d batch events", n.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}
