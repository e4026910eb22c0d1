package httpapi_test

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/httpapi/stream"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/sse"
)

// h2Client returns a client that speaks HTTP/2 to th (withTLS), all its
// requests on one connection.
func h2Client(t testing.TB, th *testHub) *http.Client {
	tr := &http.Transport{TLSClientConfig: th.tlsConfig(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// openH2 opens an HTTP/2 stream of path with the admin token, or token
// when given.
func openH2(t testing.TB, c *http.Client, th *testHub, ctx context.Context, path string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", th.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
	}
	return resp
}

// noHeartbeat serves /events without heartbeats, the write timeout short.
func noHeartbeat(timeout time.Duration) hubOption {
	return func(c *hubtest.Config) {
		c.Stream.WriteTimeout = timeout
		c.Stream.Events = stream0Events()
	}
}

func stream0Events() stream.Endpoint {
	return stream.Endpoint{Name: "events", Path: "/events", Format: format.Raw, Replay: true, Hello: "comment"}
}

// TestH2IdleLongerThanWriteTimeout: an HTTP/2 stream without heartbeats
// that stays idle longer than the write timeout still gets the next event.
// Over HTTP/2 a write deadline that passes resets the stream even when no
// write is under way, so the deadline is cleared while the stream waits.
func TestH2IdleLongerThanWriteTimeout(t *testing.T) {
	th := newMemoryHub(t, withTLS, noHeartbeat(150*time.Millisecond))
	resp := openH2(t, h2Client(t, th), th, context.Background(), "/events?topic=idle")
	dec := sse.NewDecoder(resp.Body)
	id := strconv.FormatUint(th.publish("idle", "first"), 10)
	if ev := nextData(t, dec); ev.ID != id {
		t.Fatalf("%+v", ev)
	}
	time.Sleep(600 * time.Millisecond) // four write timeouts with nothing to send
	id = strconv.FormatUint(th.publish("idle", "second"), 10)
	if ev := nextData(t, dec); ev.ID != id {
		t.Fatalf("%+v", ev)
	}
}

// TestH2Heartbeats: an idle HTTP/2 stream gets its heartbeats, and events
// in between.
func TestH2Heartbeats(t *testing.T) {
	th := newMemoryHub(t, withTLS, func(c *hubtest.Config) {
		e := stream0Events()
		e.Heartbeat, e.HeartbeatStyle = 50*time.Millisecond, "event"
		c.Stream.Events = e
	})
	resp := openH2(t, h2Client(t, th), th, context.Background(), "/events?topic=hb")
	dec := sse.NewDecoder(resp.Body)
	beats := 0
	for beats < 3 {
		ev, err := dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "heartbeat" {
			beats++
		}
	}
	id := strconv.FormatUint(th.publish("hb", "x"), 10)
	if ev := nextData(t, dec); ev.ID != id {
		t.Fatalf("%+v", ev)
	}
	for beats < 5 {
		ev, err := dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "heartbeat" {
			beats++
		}
	}
}

// TestH2RevokeEndsStream: revoking the token of an HTTP/2 stream ends it
// with the error event and a clean end, and releases its subscriber.
func TestH2RevokeEndsStream(t *testing.T) {
	th := newMemoryHub(t, withTLS)
	secret, id := th.createToken(`{"purpose":"stream"}`)
	req, _ := http.NewRequest("GET", th.srv.URL+"/stream/"+secret, nil)
	resp, err := h2Client(t, th).Do(req)
	if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("%v %v", resp, err)
	}
	defer resp.Body.Close()
	th.do("DELETE", "/api/tokens/"+id, "", "")
	wantRevokedEnd(t, th, resp.Body)
}

// TestH2ShutdownEndsStreams: Shutdown ends every HTTP/2 stream cleanly,
// one opened after it too, and releases their subscribers.
func TestH2ShutdownEndsStreams(t *testing.T) {
	th := newMemoryHub(t, withTLS)
	c := h2Client(t, th)
	var decs []*sse.Decoder
	for range 3 {
		decs = append(decs, sse.NewDecoder(openH2(t, c, th, context.Background(), "/events?topic=bye").Body))
	}
	id := strconv.FormatUint(th.publish("bye", "first"), 10)
	for _, dec := range decs {
		if ev := nextData(t, dec); ev.ID != id {
			t.Fatalf("%+v", ev)
		}
	}
	th.api.Shutdown()
	decs = append(decs, sse.NewDecoder(openH2(t, c, th, context.Background(), "/events?topic=bye").Body))
	for i, dec := range decs {
		for {
			_, err := dec.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("stream %d: want a clean end, got %v", i, err)
			}
		}
	}
	waitNoSubscribers(t, th)
}

// TestH2ClientGoneReleases: HTTP/2 streams whose clients cancel them (the
// connection stays) are released at once, and the others go on.
func TestH2ClientGoneReleases(t *testing.T) {
	th := newMemoryHub(t, withTLS)
	c := h2Client(t, th)
	keep := sse.NewDecoder(openH2(t, c, th, context.Background(), "/events?topic=gone").Body)
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		openH2(t, c, th, ctx, "/events?topic=gone")
		cancel()
	}
	deadline := time.Now().Add(5 * time.Second)
	for th.hub.Stats().Subscribers.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want 1", th.hub.Stats().Subscribers.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	id := strconv.FormatUint(th.publish("gone", "x"), 10)
	if ev := nextData(t, keep); ev.ID != id {
		t.Fatalf("%+v", ev)
	}
}

// TestH2WriteTimeout: an HTTP/2 client that stops reading is cut after the
// write timeout, and a reading one on the same connection goes on.
func TestH2WriteTimeout(t *testing.T) {
	th := newMemoryHub(t, withTLS, func(c *hubtest.Config) { c.Stream.WriteTimeout = 200 * time.Millisecond })
	c := h2Client(t, th)
	stalled := openH2(t, c, th, context.Background(), "/events?topic=slow")
	_ = stalled // never read: its flow-control window fills
	reader := openH2(t, c, th, context.Background(), "/events?topic=fast")
	dec := sse.NewDecoder(reader.Body)
	big := strings.Repeat("x", 32<<10)
	for range 192 { // 6 MiB, past the 4 MiB the client buffers for a stream
		th.publish("slow", big)
	}
	deadline := time.Now().Add(10 * time.Second)
	for th.hub.Stats().Subscribers.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want 1: the stalled stream was not cut", th.hub.Stats().Subscribers.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	id := strconv.FormatUint(th.publish("fast", "x"), 10)
	if ev := nextData(t, dec); ev.ID != id {
		t.Fatalf("%+v", ev)
	}
	buf := make([]byte, 64<<10)
	var err error
	for err == nil {
		_, err = stalled.Body.Read(buf)
	}
	if errors.Is(err, io.EOF) {
		t.Fatalf("the stalled stream ended cleanly; want it reset")
	}
}

// TestH2IdleStreamStacks: 200 idle HTTP/2 streams over TLS on one
// connection each hold a 4 KiB stack once collected, not 8 KiB: the stream
// waits with so little of its goroutine's stack in use that the runtime
// halves it (docs/tls-streams.md). The client is raw frames read by one
// goroutine (Go's own client keeps a goroutine per stream, whose stack
// would count too). The race detector's instrumentation makes frames
// larger, so the figure is only checked without it.
func TestH2IdleStreamStacks(t *testing.T) {
	th := newMemoryHub(t, withTLS)
	u, _ := url.Parse(th.srv.URL)
	conn, err := tls.Dial("tcp", u.Host, th.tlsConfig("h2"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	writeFrame := func(typ, flags byte, stream uint32, payload []byte) {
		mu.Lock()
		defer mu.Unlock()
		h := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags,
			byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
		if _, err := conn.Write(append(h, payload...)); err != nil {
			t.Error(err)
		}
	}
	if _, err := io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	writeFrame(0x4, 0, 0, nil) // SETTINGS
	const n = 200
	dataSeen := make(chan uint32, n+1)
	go func() { // one reader for every stream: it acknowledges SETTINGS and notes each hello
		hdr := make([]byte, 9)
		seen := map[uint32]bool{}
		for {
			if _, err := io.ReadFull(conn, hdr); err != nil {
				return
			}
			size := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
			if _, err := io.CopyN(io.Discard, conn, int64(size)); err != nil {
				return
			}
			stream := uint32(hdr[5]&0x7f)<<24 | uint32(hdr[6])<<16 | uint32(hdr[7])<<8 | uint32(hdr[8])
			switch {
			case hdr[3] == 0x4 && hdr[4]&1 == 0:
				writeFrame(0x4, 1, 0, nil) // SETTINGS ACK
			case hdr[3] == 0x0 && size > 0: // the first DATA of a stream: its hello
				if !seen[stream] {
					seen[stream] = true
					dataSeen <- stream
				}
			}
		}
	}()
	// HPACK without Huffman or the dynamic table: :method GET, :scheme
	// https (static), :path and :authority (static names), authorization.
	lit := func(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }
	open := func(stream uint32, path string) {
		b := []byte{0x82, 0x87}
		b = lit(append(b, 0x04), path)
		b = lit(append(b, 0x01), u.Host)
		b = lit(lit(append(b, 0x00), "authorization"), "Bearer "+adminToken)
		writeFrame(0x1, 0x4|0x1, stream, b) // HEADERS, END_HEADERS|END_STREAM
	}
	wait := func() {
		select {
		case <-dataSeen:
		case <-time.After(10 * time.Second):
			t.Fatal("no hello")
		}
	}
	open(1, "/events?topic=warm") // the connection's goroutines come first
	wait()
	runtime.GC()
	before := stackBytes()
	for i := range n {
		open(uint32(3+2*i), "/events?topic=stacks")
	}
	for range n {
		wait()
	}
	// A handler may still be finishing its first write when its hello
	// arrives; it is halved at the first GC that finds it waiting.
	var per int64
	for deadline := time.Now().Add(5 * time.Second); ; {
		runtime.GC()
		per = (int64(stackBytes()) - int64(before)) / n
		if per <= 5<<10 || raceEnabled || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d bytes of stack per idle HTTP/2 stream", per)
	if !raceEnabled && per > 5<<10 {
		t.Fatalf("%d bytes of stack per idle HTTP/2 stream, want about 4 KiB", per)
	}
}

func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestH2StreamAccessLog: with the access log on, an HTTP/2 stream (which
// runs after its handler returned, under ServeHTTP) is logged once, when
// it ends, with its status.
func TestH2StreamAccessLog(t *testing.T) {
	logs := &syncBuffer{}
	th := newMemoryHub(t, withTLS, func(c *hubtest.Config) {
		c.API.AccessLog = true
		c.API.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	ctx, cancel := context.WithCancel(context.Background())
	resp := openH2(t, h2Client(t, th), th, ctx, "/events?topic=logged")
	id := strconv.FormatUint(th.publish("logged", "x"), 10)
	if ev := nextData(t, sse.NewDecoder(resp.Body)); ev.ID != id {
		t.Fatalf("%+v", ev)
	}
	if strings.Contains(logs.String(), "topic=logged") {
		t.Fatalf("logged before the stream ended: %s", logs.String())
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "topic=logged") {
		if time.Now().After(deadline) {
			t.Fatalf("the stream's end was not logged: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitNoSubscribers(t, th)
	if line := logs.String(); strings.Count(line, "topic=logged") != 1 || !strings.Contains(line, "status=200") {
		t.Fatalf("log: %s", line)
	}
}

// TestH2CompressedHeartbeatsAndEnd: a gzip HTTP/2 stream gets compressed
// heartbeats and events, and at Shutdown the end of the gzip stream (its
// trailer checks every byte), then a clean end.
func TestH2CompressedHeartbeatsAndEnd(t *testing.T) {
	th := newMemoryHub(t, withTLS, withCompression(stream.CompressionGzip), func(c *hubtest.Config) {
		e := stream0Events()
		e.Heartbeat, e.HeartbeatStyle = 40*time.Millisecond, "event"
		c.Stream.Events = e
	})
	req, _ := http.NewRequest("GET", th.srv.URL+"/events?topic=gz", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport leaves the body compressed
	resp, err := h2Client(t, th).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("%s, Content-Encoding %q", resp.Proto, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	dec := sse.NewDecoder(zr)
	for beats := 0; beats < 2; {
		ev, err := dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "heartbeat" {
			beats++
		}
	}
	id := strconv.FormatUint(th.publish("gz", "x"), 10)
	if ev := nextData(t, dec); ev.ID != id {
		t.Fatalf("%+v", ev)
	}
	th.api.Shutdown()
	for {
		_, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("want the gzip stream's end, got %v", err)
		}
	}
	waitNoSubscribers(t, th)
}
