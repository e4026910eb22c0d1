package httpapi_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/internal/hubtest"
)

func withHTTP(h hubtest.HTTP) hubOption {
	return func(c *hubtest.Config) { c.HTTP = h }
}

// dial opens a raw TCP connection to the test hub.
func (th *testHub) dial() net.Conn {
	th.t.Helper()
	u, _ := url.Parse(th.srv.URL)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		th.t.Fatal(err)
	}
	th.t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed waits until the server closes c (a read returns EOF or a
// reset), at most within, and returns how long that took.
func waitClosed(t *testing.T, what string, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the connection is still open after %v", what, within)
	}
	return time.Since(start)
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readJSONResponse reads one response from br and checks it is a JSON
// error with status and code.
func readJSONResponse(t *testing.T, what string, br *bufio.Reader, status int, code string) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s: reading the response: %v", what, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, what, resp, b, status, code)
	return resp
}

// TestIdleKeepAliveConnectionIsClosed guards defect 4: a keep-alive
// connection that sent one request and then waited was held forever.
// server.idle_timeout (http.Server.IdleTimeout) closes it, and it stops
// counting against limits.max_connections.
func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	th := newMemoryHub(t, withHTTP(hubtest.HTTP{IdleTimeout: 300 * time.Millisecond, MaxConnections: 10}))
	c := th.dial()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first request: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if n := th.ln.Open(); n != 1 {
		t.Errorf("%d connections counted, want 1", n)
	}
	d := waitClosed(t, "an idle keep-alive connection", c, 10*time.Second)
	t.Logf("closed after %v idle", d)
	waitFor(t, "the idle connection to stop counting", func() bool { return th.ln.Open() == 0 })
}

// TestDribblingClientIsCut guards defect 4: a client that sends fewer bytes
// than a request line, or its header a byte at a time, is cut by
// server.read_header_timeout however often it sends a byte.
func TestDribblingClientIsCut(t *testing.T) {
	th := newMemoryHub(t, withHTTP(hubtest.HTTP{ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: time.Minute}))
	t.Run("part of a request line", func(t *testing.T) {
		c := th.dial()
		io.WriteString(c, "GE")
		waitClosed(t, "a client that sent 2 bytes", c, 10*time.Second)
	})
	t.Run("a byte at a time", func(t *testing.T) {
		c := th.dial()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			line := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 1000)
			for i := 0; i < len(line); i++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := c.Write([]byte{line[i]}); err != nil {
					return
				}
			}
		}()
		waitClosed(t, "a client dribbling its header", c, 10*time.Second)
	})
	t.Run("after a first request", func(t *testing.T) {
		// A kept-alive connection that starts its next request and stops
		// is cut too (by the idle, then the header timeout).
		c := th.dial()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("first request: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		io.WriteString(c, "GET /heal")
		waitClosed(t, "a second request that stops half way", c, 10*time.Second)
	})
}

// TestConnectionsPastTheBoundGetJSON503 guards defect 4: every TCP
// connection, idle or not, with or without a token, counts against
// limits.max_connections; one past it is answered with a JSON 503 and
// closed, and a place freed by a closed connection is taken again.
func TestConnectionsPastTheBoundGetJSON503(t *testing.T) {
	const max = 3
	th := newMemoryHub(t, withHTTP(hubtest.HTTP{MaxConnections: max, IdleTimeout: time.Minute}))
	var held []net.Conn
	for i := 0; i < max; i++ {
		c := th.dial()
		if i == 0 { // one that made a request and idles, the others never sent a byte
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("request on connection %d: %v %v", i, resp, err)
			}
			io.Copy(io.Discard, resp.Body)
		}
		held = append(held, c)
	}
	waitFor(t, fmt.Sprintf("%d connections counted", max), func() bool { return th.ln.Open() == max })
	for i := 0; i < 3; i++ {
		c := th.dial()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp := readJSONResponse(t, "a connection past the bound", bufio.NewReader(c), 503, httpapi.CodeUnavailable)
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
		waitClosed(t, "a refused connection", c, 10*time.Second)
	}
	if n := th.ln.Refused(); n != 3 {
		t.Errorf("Refused() = %d, want 3", n)
	}
	held[1].Close()
	waitFor(t, "a closed connection to free its place", func() bool { return th.ln.Open() == max-1 })
	resp, err := http.Get(th.srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a connection in the freed place: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestDetachedStreamsCountAgainstConnections guards defect 4 for streams:
// a stream's connection counts against limits.max_connections while the
// stream is open, whether the pump took it over from net/http (hijacked)
// or it keeps its goroutine, and is released when the stream ends, by
// the client going away or by the hub ending it.
func TestDetachedStreamsCountAgainstConnections(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode hubOption) {
		const max = 3
		// A stream with a goroutine ends its response and leaves the
		// connection kept alive, idle: the idle timeout closes it.
		th := newMemoryHub(t, mode, withHTTP(hubtest.HTTP{MaxConnections: max, IdleTimeout: 500 * time.Millisecond}))
		tok, id := th.createToken(`{"purpose":"stream"}`)
		http.DefaultClient.CloseIdleConnections() // createToken's connection
		waitFor(t, "no connection counted", func() bool { return th.ln.Open() == 0 })
		a := openRaw(t, th, "/events?topic=a")
		b := openRaw(t, th, "/stream/"+tok)
		c := openRaw(t, th, "/events?topic=c")
		if n := th.ln.Open(); n != max {
			t.Fatalf("%d connections counted with %d streams open, want %d", n, max, max)
		}
		extra := th.dial()
		fmt.Fprintf(extra, "GET /events?topic=x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", adminToken)
		extra.SetReadDeadline(time.Now().Add(10 * time.Second))
		readJSONResponse(t, "a stream past the connection bound", bufio.NewReader(extra), 503, httpapi.CodeUnavailable)

		// The client goes away.
		a.conn.Close()
		waitFor(t, "a closed stream to release its connection", func() bool { return th.ln.Open() == max-1 })
		// The hub ends a stream (its token is revoked).
		resp, body := th.do("DELETE", "/api/tokens/"+id, "", "")
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d %s", resp.StatusCode, body)
		}
		http.DefaultClient.CloseIdleConnections()
		b.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, b.body); err != nil {
			t.Fatalf("the stream whose token was revoked did not end: %v", err)
		}
		waitClosed(t, "a stream whose token was revoked", b.conn, 10*time.Second)
		waitFor(t, "an ended stream to release its connection", func() bool { return th.ln.Open() == 1 })
		d := openRaw(t, th, "/events?topic=d")
		if n := th.ln.Open(); n != 2 {
			t.Errorf("%d connections counted, want 2", n)
		}
		_, _ = c, d
	})
}

// TestNetHTTPErrorsAreJSON: net/http answers a request it cannot read
// itself, before any handler, in plain text. httpapi.Listener rewrites
// those answers into the JSON error every other answer is: a malformed
// request line (400), a request without Host (400), an unknown protocol
// version (505), a header of 1 MiB (431), an unsupported transfer encoding
// (501), an Expect other than 100-continue (417, which net/http sends
// empty).
func TestNetHTTPErrorsAreJSON(t *testing.T) {
	th := newMemoryHub(t)
	for _, c := range []struct {
		name, request string
		status        int
		code          string
	}{
		{"malformed request line", "GARBAGE\r\n\r\n", 400, httpapi.CodeBadRequest},
		{"bad protocol version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505, ""},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, httpapi.CodeBadRequest},
		{"header of 1 MiB", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 1<<20+8192) + "\r\n\r\n", 431, httpapi.CodeTooLarge},
		{"transfer encoding", "POST /publish/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, ""},
		{"expectation", "POST /publish/a HTTP/1.1\r\nHost: x\r\nExpect: bogus\r\nContent-Length: 1\r\n\r\nx", 417, httpapi.CodeBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := th.dial()
			go func() { io.WriteString(conn, c.request) }() // the server may answer before reading it all
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			wantError(t, c.name, resp, b, c.status, c.code)
		})
	}
}

// bodyJSON decodes a JSON body for a test.
func bodyJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %.300s", err, b)
	}
}

// TestSlowBodyIsCut: the same class as defect 4 on the body side. A
// client that sends its headers at once and then its body a byte at a
// time was never cut (net/http's ReadHeaderTimeout ends with the headers,
// and a ReadTimeout would end every stream): it held the connection and
// its handler forever, and the handler had allocated the whole declared
// Content-Length before the first byte came. A body must arrive within
// the server's BodyTimeout (408, JSON, connection closed), and what a
// client declares is allocated only as it arrives.
func TestSlowBodyIsCut(t *testing.T) {
	th := newMemoryHub(t, func(c *hubtest.Config) { c.API.BodyTimeout = 300 * time.Millisecond })
	for _, c := range []struct{ name, path, ctype string }{
		{"publish", "/publish/a.b", "text/plain"},
		{"envelope", "/publish", "application/json"},
		{"token", "/api/tokens", "application/json"},
		{"sign-in", "/api/session", "application/json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := th.dial()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\n{", c.path, adminToken, c.ctype)
			stop := make(chan struct{})
			defer close(stop)
			go func() { // a byte every 50 ms: 1000 bytes would take 50 s
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}()
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			readJSONResponse(t, "a body sent a byte at a time", br, http.StatusRequestTimeout, httpapi.CodeTimeout)
			waitClosed(t, "a connection whose body timed out", conn, 10*time.Second)
		})
	}
	// A request answered before its body was read (no token: 401; a
	// topic that is not one: 400) does not wait for that body forever
	// either: net/http's read of the rest gets the body timeout too.
	for _, c := range []struct{ what, path, auth string }{
		{"no token", "/publish/a.b", ""},
		{"a bad topic", "/publish/a..b", "Authorization: Bearer " + adminToken + "\r\n"},
	} {
		conn := th.dial()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: 1000\r\n\r\n{", c.path, c.auth)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode < 400 {
			t.Fatalf("%s: %v %v", c.what, resp, err)
		} else {
			io.Copy(io.Discard, resp.Body)
		}
		waitClosed(t, c.what+", the body dribbled after the answer", conn, 10*time.Second)
		close(stop)
	}

	// A body that arrives in time, in pieces, is read whole.
	conn := th.dial()
	body := `{"topic":"a.b","data":"` + strings.Repeat("x", 100<<10) + `"}`
	fmt.Fprintf(conn, "POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", adminToken, len(body))
	go func() {
		for i := 0; i < len(body); i += 8 << 10 {
			conn.Write([]byte(body[i:min(i+8<<10, len(body))]))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a body in pieces: %v %v", resp, err)
	}
}

// TestDeclaredBodyLengthIsNotAllocated: 40 requests that declare a body of
// 1 MiB (the limit) and send none of it hold at most 64 KiB each, not the
// 1 MiB they declared (a bound of 16 MiB for the 40, generous).
func TestDeclaredBodyLengthIsNotAllocated(t *testing.T) {
	th := newMemoryHub(t)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 40; i++ {
		c := th.dial()
		fmt.Fprintf(c, "POST /publish/a.b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\nx", adminToken, 1<<20)
	}
	time.Sleep(300 * time.Millisecond) // the handlers are waiting for the bodies
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %d KiB for 40 bodies declared but not sent", grew>>10)
	if grew > 16<<20 {
		t.Errorf("heap in use grew by %d MiB for 40 bodies of 1 MiB declared and not sent", grew>>20)
	}
}
