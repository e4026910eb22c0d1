package client

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"
)

// request is what a test server saw of one request.
type request struct {
	Path   string
	Header http.Header
	At     time.Time
}

// server is an httptest server that records every request and hands it to
// a handler together with its index (0 for the first connection).
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, request{Path: r.URL.Path, Header: r.Header.Clone(), At: time.Now()})
		s.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

// stream answers as an event stream with the given body, flushed.
func stream(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, body)
	w.(http.Flusher).Flush()
}

// testClient is New with a private transport (so idle connections and
// goroutines are the test's own), a short retry, and cleanup.
func testClient(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	all := append([]Option{WithHTTPClient(&http.Client{Transport: tr}), WithRetry(5 * time.Millisecond)}, opts...)
	c := New(url, all...)
	t.Cleanup(func() { c.Close() })
	return c
}

// checkGoroutines fails the test if, at its end, more goroutines run than at
// its start (after a settling period).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func eventsString(evs []fmtEvent) string { return fmt.Sprint(evs) }

// fmtEvent is an event in a comparable form.
type fmtEvent struct{ Type, Data, ID string }
