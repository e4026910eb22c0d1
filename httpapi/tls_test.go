package httpapi_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/sse"
)

// withTLS serves the test hub over HTTPS as serve does: TLS over the
// bounded listener, with TLS HTTP/1.1 streams handed to the pump.
func withTLS(c *hubtest.Config) { c.HTTP.TLS = true }

func (th *testHub) tlsConfig(protos ...string) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(th.srv.Certificate())
	return &tls.Config{RootCAs: pool, NextProtos: protos}
}

// openRawTLS is openRaw over TLS: the client reads on the test's
// goroutine, so goroutine counts show the server's alone.
func openRawTLS(t testing.TB, th *testHub, path string, hdr ...string) *rawStream {
	t.Helper()
	u, _ := url.Parse(th.srv.URL)
	c, err := tls.Dial("tcp", u.Host, th.tlsConfig("http/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var extra strings.Builder
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&extra, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n%s\r\n", path, u.Host, adminToken, extra.String())
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("status %d, transfer encoding %v", resp.StatusCode, resp.TransferEncoding)
	}
	body := httputil.NewChunkedReader(br)
	return &rawStream{conn: c, body: body, dec: sse.NewDecoder(body)}
}

// TestTLSIdleStreamsHoldNoGoroutines opens 200 idle TLS HTTP/1.1 streams:
// handed to the pump they hold no goroutine each (with
// server.goroutine_per_stream, two), each gets the next event, and each
// one a client closes is let go.
func TestTLSIdleStreamsHoldNoGoroutines(t *testing.T) {
	for _, c := range []struct {
		name    string
		mode    hubOption
		atLeast int
		atMost  int
	}{
		{"pump", func(*hubtest.Config) {}, -1000, 20},
		{"goroutine", goroutinePerStream, 200, 1 << 30},
	} {
		t.Run(c.name, func(t *testing.T) {
			th := newMemoryHub(t, withTLS, c.mode)
			openRawTLS(t, th, "/events?topic=warmup").conn.Close() // starts the pump
			const n = 200
			base := runtime.NumGoroutine()
			streams := make([]*rawStream, n)
			for i := range streams {
				streams[i] = openRawTLS(t, th, "/events?topic=idle")
			}
			time.Sleep(100 * time.Millisecond)
			if d := runtime.NumGoroutine() - base; d < c.atLeast || d > c.atMost {
				t.Fatalf("%d idle TLS streams added %d goroutines, want %d..%d", n, d, c.atLeast, c.atMost)
			}
			id := th.publish("idle", "wake up")
			for i, s := range streams {
				s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				ev := nextData(t, s.dec)
				if string(ev.Data) != "wake up" || ev.ID != fmt.Sprint(id) {
					t.Fatalf("stream %d got %+v", i, ev)
				}
			}
			for _, s := range streams {
				s.conn.Close()
			}
			waitNoSubscribers(t, th)
		})
	}
}

// nextData returns the next event that is not a hello or heartbeat.
func nextData(t testing.TB, dec *sse.Decoder) sse.Event {
	t.Helper()
	for {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if ev.Type == "" || ev.Type == "message" {
			return ev
		}
	}
}

func waitNoSubscribers(t testing.TB, th *testHub) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for th.hub.Stats().Subscribers.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers left 5s after their clients closed", th.hub.Stats().Subscribers.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTLSReplayLiveResume replays 6 MiB to a detached TLS stream read with
// Go's HTTP client, then a live event, then resumes with Last-Event-ID
// after a disconnect: every id exactly once, in order.
func TestTLSReplayLiveResume(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode hubOption) {
		th := newMemoryHub(t, withTLS, mode)
		last := th.publishDirect("r", 3000, 2048)
		first := last - 2999
		s := th.subscribe("/events?topic=r&last_event_id=earliest")
		if s.resp.ProtoMajor != 1 || s.resp.TLS == nil {
			t.Fatalf("%s, TLS %v", s.resp.Proto, s.resp.TLS != nil)
		}
		readIDs(t, s.dec, first, last)
		live := th.publish("r", "live")
		if ev := s.next(t); ev.ID != fmt.Sprint(live) || string(ev.Data) != "live" {
			t.Fatalf("live: %+v", ev)
		}
		s.resp.Body.Close()
		waitNoSubscribers(t, th)
		more := th.publishDirect("r", 5, 10)
		s = th.subscribe("/events?topic=r", "Last-Event-ID", fmt.Sprint(live))
		readIDs(t, s.dec, more-4, more)
	})
}

// TestTLSSlowReader replays 8 MiB to a TLS client that reads slowly, so
// the socket fills and ciphertext stays pending over and over, while a
// second TLS stream on the same hub gets a live event at once: the slow
// one still gets every id in order.
func TestTLSSlowReader(t *testing.T) {
	th := newMemoryHub(t, withTLS)
	last := th.publishDirect("slow", 2000, 4096)
	slow := openRawTLS(t, th, "/events?topic=slow", "Last-Event-ID", "0")
	fast := openRawTLS(t, th, "/events?topic=fast")
	time.Sleep(200 * time.Millisecond) // the slow stream's socket is full by now
	start := time.Now()
	id := th.publish("fast", "now")
	fast.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if ev := nextData(t, fast.dec); ev.ID != fmt.Sprint(id) {
		t.Fatalf("fast: %+v", ev)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the fast stream waited %v behind the slow one", d)
	}
	slow.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	paced := &pacedBody{r: slow.body}
	readIDs(t, sse.NewDecoder(paced), last-1999, last)
	if paced.reads < 100 {
		t.Fatalf("only %d reads: the reader was not slow", paced.reads)
	}
}

// pacedBody reads at most 32 KiB at a time with a pause every 16 reads.
type pacedBody struct {
	r     io.Reader
	reads int
}

func (p *pacedBody) Read(b []byte) (int, error) {
	if p.reads++; p.reads%16 == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	return p.r.Read(b[:min(len(b), 32<<10)])
}

// TestTLSRevokeEndsDetachedStream: revoking the token of a detached TLS
// stream ends it with the error event and a clean end.
func TestTLSRevokeEndsDetachedStream(t *testing.T) {
	th := newMemoryHub(t, withTLS)
	secret, id := th.createToken(`{"purpose":"stream"}`)
	resp, err := th.client.Get(th.srv.URL + "/stream/" + secret)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	defer resp.Body.Close()
	th.do("DELETE", "/api/tokens/"+id, "", "")
	wantRevokedEnd(t, th, resp.Body)
}

// wantRevokedEnd reads body, a stream whose token was just revoked, up to
// its error event (UNAUTHORIZED) and a clean end, and waits for the hub
// to release its subscriber.
func wantRevokedEnd(t *testing.T, th *testHub, body io.Reader) {
	t.Helper()
	dec := sse.NewDecoder(body)
	for {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("before the error event: %v", err)
		}
		if ev.Type == "error" {
			if !strings.Contains(string(ev.Data), "UNAUTHORIZED") {
				t.Fatalf("error event %q", ev.Data)
			}
			break
		}
	}
	if _, err := dec.Next(); err != io.EOF {
		t.Fatalf("stream not closed cleanly: %v", err)
	}
	waitNoSubscribers(t, th)
}

// TestTLSShutdownEndsDetachedStreams: Shutdown gives each detached TLS
// stream its last chunk and a TLS close, and releases its subscriber.
func TestTLSShutdownEndsDetachedStreams(t *testing.T) {
	th := newMemoryHub(t, withTLS)
	streams := []*rawStream{openRawTLS(t, th, "/events?topic=bye"), openRawTLS(t, th, "/events?topic=bye")}
	th.publish("bye", "first")
	for _, s := range streams {
		s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		nextData(t, s.dec)
	}
	th.api.Shutdown()
	for _, s := range streams {
		for {
			_, err := s.dec.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("want a clean end, got %v", err)
			}
		}
		if n, err := s.conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("after the last chunk: %d, %v (want the close_notify)", n, err)
		}
	}
	if n := th.hub.Stats().Subscribers.Load(); n != 0 {
		t.Fatalf("%d subscribers after Shutdown", n)
	}
}

// TestTLSHTTP2BesideDetached: the listener that lets TLS HTTP/1.1 streams
// be detached still serves HTTP/2 (ALPN h2), whose streams keep their
// goroutine, on the same hub at the same time.
func TestTLSHTTP2BesideDetached(t *testing.T) {
	th := newMemoryHub(t, withTLS)
	tr := &http.Transport{TLSClientConfig: th.tlsConfig(), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", th.srv.URL+"/events?topic=both", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("got %s", resp.Proto)
	}
	h1 := openRawTLS(t, th, "/events?topic=both")
	id := strconv.FormatUint(th.publish("both", "x"), 10)
	if ev := nextData(t, sse.NewDecoder(resp.Body)); ev.ID != id {
		t.Fatalf("h2: %+v", ev)
	}
	h1.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if ev := nextData(t, h1.dec); ev.ID != id {
		t.Fatalf("h1: %+v", ev)
	}
}
