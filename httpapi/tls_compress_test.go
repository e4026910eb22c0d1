package httpapi_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi/stream"
)

// TestTLSCompressedDetached: gzip and zstd streams over TLS, detached:
// compressed, then encrypted; replay, live, end.
func TestTLSCompressedDetached(t *testing.T) {
	for _, enc := range []string{"gzip", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			th := newMemoryHub(t, withTLS, withCompression(stream.CompressionAuto))
			first := th.publish("z", "replayed")
			u, _ := url.Parse(th.srv.URL)
			c, err := tls.Dial("tcp", u.Host, th.tlsConfig("http/1.1"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			fmt.Fprintf(c, "GET /events?topic=z&last_event_id=earliest HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept-Encoding: %s\r\n\r\n", u.Host, adminToken, enc)
			br := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != enc {
				t.Fatalf("%v %v %q", resp, err, resp.Header.Get("Content-Encoding"))
			}
			s := &compressedStream{conn: c, encoding: enc}
			s.raw = &countingReader{r: httputil.NewChunkedReader(br)}
			base := runtime.NumGoroutine()
			if ev := s.next(t); ev.ID != fmt.Sprint(first) {
				t.Fatalf("replay %+v", ev)
			}
			live := th.publish("z", "live")
			if ev := s.next(t); ev.ID != fmt.Sprint(live) || string(ev.Data) != "live" {
				t.Fatalf("live %+v", ev)
			}
			if d := runtime.NumGoroutine() - base; d > 5 {
				t.Fatalf("%d goroutines: not detached?", d)
			}
			th.api.Shutdown()
			for {
				if _, err := s.decoder(t).Next(); err != nil {
					break
				}
			}
		})
	}
}
