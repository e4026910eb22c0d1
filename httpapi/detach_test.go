package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/sse"
)

// rawStream is a stream read on a raw connection, with no goroutine on the
// client side either, so goroutine counts show the server's alone.
type rawStream struct {
	conn net.Conn
	body io.Reader // the body, chunked framing removed
	dec  *sse.Decoder
}

func openRaw(t testing.TB, th *testHub, path string) *rawStream {
	t.Helper()
	u, _ := url.Parse(th.srv.URL)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", path, u.Host, adminToken)
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

// TestIdleStreamsHoldNoGoroutines opens 300 idle HTTP/1.1 streams: handed
// to the pump, they hold no goroutine each (with a goroutine per stream
// they hold two), and yet every one gets the next event, and each one a
// client closes is let go at once.
func TestIdleStreamsHoldNoGoroutines(t *testing.T) {
	for _, c := range []struct {
		name    string
		mode    hubOption
		atLeast int
		atMost  int
	}{
		{"pump", func(*hubtest.Config) {}, -1000, 20}, // other tests' goroutines may still be ending
		{"goroutine", goroutinePerStream, 300, 1 << 30},
	} {
		t.Run(c.name, func(t *testing.T) {
			th := newMemoryHub(t, c.mode)
			th.subscribe("/events?topic=warmup").resp.Body.Close() // starts the pump
			const n = 300
			base := runtime.NumGoroutine()
			streams := make([]*rawStream, n)
			for i := range streams {
				streams[i] = openRaw(t, th, "/events?topic=idle")
			}
			time.Sleep(100 * time.Millisecond) // let finished handlers' goroutines exit
			if d := runtime.NumGoroutine() - base; d < c.atLeast || d > c.atMost {
				t.Fatalf("%d idle streams added %d goroutines, want %d..%d", n, d, c.atLeast, c.atMost)
			}
			id := th.publish("idle", "wake up")
			for i, s := range streams {
				s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				for {
					ev, err := s.dec.Next()
					if err != nil {
						t.Fatalf("stream %d: %v", i, err)
					}
					if ev.Type == "" || ev.Type == "message" {
						if string(ev.Data) != "wake up" || ev.ID != fmt.Sprint(id) {
							t.Fatalf("stream %d got %+v", i, ev)
						}
						break
					}
				}
			}
			for _, s := range streams {
				s.conn.Close()
			}
			deadline := time.Now().Add(5 * time.Second)
			for th.hub.Stats().Subscribers.Load() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d subscribers left 5s after their clients closed", th.hub.Stats().Subscribers.Load())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestShutdownEndsDetachedStreams: Shutdown sends each stream's last chunk
// (a clean end, so clients reconnect) and releases every subscriber.
func TestShutdownEndsDetachedStreams(t *testing.T) {
	th := newMemoryHub(t)
	s := openRaw(t, th, "/events?topic=bye")
	th.api.Shutdown()
	s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, err := s.dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("want a clean end, got %v", err)
		}
	}
	if n := th.hub.Stats().Subscribers.Load(); n != 0 {
		t.Fatalf("%d subscribers after Shutdown", n)
	}
	// New streams after Shutdown are not detached: they end at once.
	resp, err := http.Get(th.srv.URL + "/events?topic=bye&token=" + adminToken)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), ": connected") {
		t.Fatalf("after Shutdown: %d %q", resp.StatusCode, b)
	}
}
