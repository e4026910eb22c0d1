package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHandlerPanicsAreErrors guards a defect found by an adversarial pass: serve
// gave net/http's error log the debug level, so a handler's panic (a bug,
// with its stack) was invisible at the default info level. A panic is
// logged as an error; net/http's routine complaints (a client's TLS
// handshake gone wrong, a bad request line) stay at debug.
func TestHandlerPanicsAreErrors(t *testing.T) {
	logs := &strings.Builder{}
	mu := make(chan struct{}, 1)
	mu <- struct{}{}
	w := writerFunc(func(p []byte) (int, error) { <-mu; defer func() { mu <- struct{}{} }(); return logs.Write(p) })
	logger := newLogger("info", "text", w)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("a bug") }))
	srv.Config.ErrorLog = httpErrorLog(logger)
	srv.Start()
	defer srv.Close()
	if resp, err := http.Get(srv.URL + "/x"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err == nil {
		c.Write([]byte("NOT HTTP\r\n\r\n"))
		io.Copy(io.Discard, c)
		c.Close()
	}
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		<-mu
		got = logs.String()
		mu <- struct{}{}
		if strings.Contains(got, "a bug") {
			break
		}
	}
	if !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "panic serving") || !strings.Contains(got, "a bug") ||
		!strings.Contains(got, "goroutine") {
		t.Errorf("a handler's panic is not an error with its stack in the info-level log:\n%s", got)
	}
	if strings.Count(got, "level=") != 1 {
		t.Errorf("more than the panic at info level:\n%s", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
