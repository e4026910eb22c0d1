package emitter

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkGoroutines fails the test if, once its cleanups (registered later,
// so run earlier) have shut the servers down, more goroutines are left than
// when it started.
func checkGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: %d at start, %d at end\n%s", base, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// newServer starts an HTTP/1.1 test server for h, closed when the test ends.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newTLSServer starts an HTTP/2 (over TLS) test server for h.
func newTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// open sends a GET for url with the given headers (name, value pairs) and
// returns the response, whose body is closed when the test ends.
func open(t *testing.T, client *http.Client, url string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// stream reads a response body in the background so a test can wait for
// bytes with a timeout.
type stream struct {
	buf    bytes.Buffer
	chunks chan []byte
	err    error // set when chunks is closed
}

func newStream(body io.Reader) *stream {
	s := &stream{chunks: make(chan []byte, 64)}
	go func() {
		for {
			b := make([]byte, 32<<10)
			n, err := body.Read(b)
			if n > 0 {
				s.chunks <- b[:n]
			}
			if err != nil {
				s.err = err
				close(s.chunks)
				return
			}
		}
	}()
	return s
}

// until reads until the body holds want, and returns everything read so
// far. It fails the test after d.
func (s *stream) until(t *testing.T, want string, d time.Duration) string {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for !strings.Contains(s.buf.String(), want) {
		select {
		case b, ok := <-s.chunks:
			if !ok {
				t.Fatalf("body ended (%v) before %q; got %q", s.err, want, s.buf.String())
			}
			s.buf.Write(b)
		case <-timer.C:
			t.Fatalf("no %q within %v; got %q", want, d, s.buf.String())
		}
	}
	return s.buf.String()
}

// end reads to the end of the body and returns everything read. It fails
// the test if the body does not end within d.
func (s *stream) end(t *testing.T, d time.Duration) string {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case b, ok := <-s.chunks:
			if !ok {
				return s.buf.String()
			}
			s.buf.Write(b)
		case <-timer.C:
			t.Fatalf("body did not end within %v; got %q", d, s.buf.String())
		}
	}
}

// wait fails the test if ch is not closed within d.
func wait(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s: not within %v", what, d)
	}
}

// started returns a handler that starts a stream with opts, hands the
// emitter to the test on the returned channel, and returns once the
// emitter is closed and the test closed release (or the test ended).
func started(t *testing.T, opts Options) (http.Handler, <-chan *Emitter, chan<- struct{}) {
	ch := make(chan *Emitter, 1)
	release := make(chan struct{})
	ctx := t.Context()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := Start(w, r, opts)
		if err != nil {
			t.Errorf("Start: %v", err)
			return
		}
		defer e.Close()
		ch <- e
		select {
		case <-release:
		case <-ctx.Done():
		case <-e.Done():
		}
	})
	return h, ch, release
}

// recv returns the emitter the handler started, failing after a second.
func recv(t *testing.T, ch <-chan *Emitter) *Emitter {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(time.Second):
		t.Fatal("handler did not start a stream")
		return nil
	}
}
