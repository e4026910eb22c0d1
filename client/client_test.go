package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustNext(t *testing.T, ctx context.Context, c *Client) sse.Event {
	t.Helper()
	ev, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ev
}

func TestDefaultRetryIsThreeSeconds(t *testing.T) {
	if DefaultRetry != 3*time.Second {
		t.Fatalf("DefaultRetry = %v", DefaultRetry)
	}
	if got := New("http://127.0.0.1/").ReconnectionTime(); got != 3*time.Second {
		t.Fatalf("ReconnectionTime() = %v, want 3s", got)
	}
}

func TestRequestHeaders(t *testing.T) {
	checkGoroutines(t)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		stream(w, "data: x\n\n")
	})
	c := testClient(t, s.URL+"/s", WithHeader("Authorization", "Bearer t"), WithHeader("X-Multi", "a"), WithHeader("X-Multi", "b"),
		WithHeader("Accept", "text/html"))
	mustNext(t, ctxT(t), c)
	h := s.requests()[0].Header
	if got := h.Get("Accept"); got != "text/event-stream" {
		t.Errorf("Accept = %q", got)
	}
	if got := h.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control = %q", got)
	}
	if _, ok := h["Last-Event-Id"]; ok {
		t.Errorf("Last-Event-ID sent on first connection without an ID: %q", h["Last-Event-Id"])
	}
	if got := h.Get("Authorization"); got != "Bearer t" {
		t.Errorf("Authorization = %q", got)
	}
	if got := h.Values("X-Multi"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("X-Multi = %q", got)
	}
}

func TestInitialLastEventID(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		stream(w, "data: x\n\n")
	})
	c := testClient(t, s.URL, WithLastEventID("41"))
	ev := mustNext(t, ctxT(t), c)
	if got := s.requests()[0].Header.Values("Last-Event-ID"); len(got) != 1 || got[0] != "41" {
		t.Errorf("Last-Event-ID = %q, want 41", got)
	}
	if ev.ID != "41" {
		t.Errorf("event ID = %q, want the initial 41", ev.ID)
	}
}

// The last event ID string persists across connections byte for byte, is
// what events report while the new stream sets none, and an empty id resets
// it so that the header is no longer sent.
func TestLastEventIDAcrossReconnects(t *testing.T) {
	checkGoroutines(t)
	const id = "é✓ \U0001F600 x:y"
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 0:
			stream(w, "id: "+id+"\ndata: a\n\n")
		case 1:
			stream(w, "data: b\n\nid\ndata: c\n\n")
		default:
			stream(w, "data: d\n\n")
		}
	})
	c := testClient(t, s.URL)
	ctx := ctxT(t)
	want := []fmtEvent{{"message", "a", id}, {"message", "b", id}, {"message", "c", ""}, {"message", "d", ""}}
	for i, w := range want {
		ev := mustNext(t, ctx, c)
		if got := (fmtEvent{ev.Type, string(ev.Data), ev.ID}); got != w {
			t.Fatalf("event %d = %+v, want %+v", i, got, w)
		}
	}
	reqs := s.requests()
	if got := reqs[1].Header["Last-Event-Id"]; len(got) != 1 || got[0] != id {
		t.Fatalf("second connection Last-Event-ID = %q, want %q", got, id)
	}
	if got, ok := reqs[2].Header["Last-Event-Id"]; ok {
		t.Fatalf("third connection sent Last-Event-ID %q after the stream reset it", got)
	}
	if c.LastEventID() != "" {
		t.Fatalf("LastEventID() = %q", c.LastEventID())
	}
}

// The last event ID string changes at dispatch (a blank line), not when the
// id field is read: an id in an unterminated event is not persisted, an id in
// an event with no data is.
func TestLastEventIDSetAtDispatchOnly(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 0:
			stream(w, "id: 1\ndata: a\n\nid: 2\ndata: lost\n")
		case 1:
			stream(w, "id: 3\n\n")
		default:
			stream(w, "data: b\n\n")
		}
	})
	c := testClient(t, s.URL)
	ctx := ctxT(t)
	if ev := mustNext(t, ctx, c); ev.ID != "1" || string(ev.Data) != "a" {
		t.Fatalf("first event %+v", ev)
	}
	if ev := mustNext(t, ctx, c); ev.ID != "3" || string(ev.Data) != "b" {
		t.Fatalf("second event %+v, want data b with id 3", ev)
	}
	reqs := s.requests()
	if got := reqs[1].Header.Get("Last-Event-ID"); got != "1" {
		t.Errorf("after unterminated id 2: Last-Event-ID = %q, want 1", got)
	}
	if got := reqs[2].Header.Get("Last-Event-ID"); got != "3" {
		t.Errorf("after data-less event with id 3: Last-Event-ID = %q, want 3", got)
	}
}

func TestServerRetryIsUsed(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			stream(w, "retry: 80\ndata: a\n\n")
			return
		}
		stream(w, "data: b\n\n")
	})
	// An initial retry of an hour: the test only finishes if the server's wins.
	c := testClient(t, s.URL, WithRetry(time.Hour))
	ctx := ctxT(t)
	mustNext(t, ctx, c)
	if got := c.ReconnectionTime(); got != 80*time.Millisecond {
		t.Fatalf("ReconnectionTime() = %v, want 80ms", got)
	}
	mustNext(t, ctx, c)
	reqs := s.requests()
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 80*time.Millisecond || gap > 3*time.Second {
		t.Fatalf("reconnected after %v, want about 80ms", gap)
	}
}

func TestInvalidRetryIgnored(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		stream(w, "retry: 1s\nretry: -5\nretry: 7.5\ndata: a\n\n")
	})
	c := testClient(t, s.URL, WithRetry(123*time.Millisecond))
	mustNext(t, ctxT(t), c)
	if got := c.ReconnectionTime(); got != 123*time.Millisecond {
		t.Fatalf("ReconnectionTime() = %v, want unchanged 123ms", got)
	}
}

func TestFailsForGood(t *testing.T) {
	cases := []struct {
		name   string
		status int
		ct     string
		body   string
	}{
		{"204 No Content", http.StatusNoContent, "text/event-stream", ""},
		{"500", http.StatusInternalServerError, "application/json", `{"error":{"code":"internal","message":"boom"}}`},
		{"404", http.StatusNotFound, "application/json", `{"error":{"code":"not_found","message":"no"}}`},
		{"200 text/plain", http.StatusOK, "text/plain", "data: x\n\n"},
		{"200 no content type", http.StatusOK, "", "data: x\n\n"},
		{"200 unparseable content type", http.StatusOK, "text/event-stream/x", "data: x\n\n"},
		{"200 text/event-streams", http.StatusOK, "text/event-streams", "data: x\n\n"},
		{"201", http.StatusCreated, "text/event-stream", "data: x\n\n"},
		{"304", http.StatusNotModified, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if tc.ct == "" {
					w.Header()["Content-Type"] = nil
				} else {
					w.Header().Set("Content-Type", tc.ct)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			var errs atomic.Int32
			c := testClient(t, s.URL, OnError(func(error) { errs.Add(1) }))
			ctx := ctxT(t)
			_, err := c.Next(ctx)
			var fe *FailedError
			if !errors.As(err, &fe) {
				t.Fatalf("Next error = %v, want *FailedError", err)
			}
			if fe.StatusCode != tc.status || fe.ContentType != tc.ct {
				t.Fatalf("FailedError = %+v", fe)
			}
			if tc.status == http.StatusInternalServerError && !strings.Contains(err.Error(), "HTTP 500 Internal Server Error: {\"error\"") {
				t.Fatalf("message %q lacks status and body excerpt", err)
			}
			time.Sleep(30 * time.Millisecond) // six retry periods
			if _, err2 := c.Next(ctx); err2 != err {
				t.Fatalf("second Next = %v, want the same FailedError", err2)
			}
			if n := len(s.requests()); n != 1 {
				t.Fatalf("%d requests, want 1 (no reconnection)", n)
			}
			if errs.Load() != 0 {
				t.Fatalf("OnError called for a failure")
			}
		})
	}
}

func TestEventStreamTypeAnyCaseAndParameters(t *testing.T) {
	for _, ct := range []string{"Text/Event-Stream; charset=utf-8", "TEXT/EVENT-STREAM", "text/event-stream;charset=\"utf-8\"", "text/event-stream ; foo=bar", "text/event-stream; charset"} {
		t.Run(ct, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", ct)
				io.WriteString(w, "data: ok\n\n")
			})
			c := testClient(t, s.URL)
			if ev := mustNext(t, ctxT(t), c); string(ev.Data) != "ok" {
				t.Fatalf("data %q", ev.Data)
			}
		})
	}
}

func TestRedirectFollowedAndReconnectUsesOriginalURL(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var stream2 atomic.Int32
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if r.URL.Path == "/start" {
					http.Redirect(w, r, "/moved", code)
					return
				}
				k := stream2.Add(1)
				stream(w, "id: "+string(rune('0'+k))+"\ndata: x\n\n")
			})
			var opened []string
			c := testClient(t, s.URL+"/start", OnOpen(func(r *http.Response) { opened = append(opened, r.Request.URL.Path) }))
			ctx := ctxT(t)
			mustNext(t, ctx, c)
			mustNext(t, ctx, c)
			var paths []string
			for _, r := range s.requests() {
				paths = append(paths, r.Path)
			}
			if strings.Join(paths, ",") != "/start,/moved,/start,/moved" {
				t.Fatalf("paths = %v, want reconnection to /start", paths)
			}
			if got := s.requests()[3].Header.Get("Last-Event-ID"); got != "1" {
				t.Fatalf("Last-Event-ID after redirect = %q, want 1", got)
			}
			if strings.Join(opened, ",") != "/moved,/moved" {
				t.Fatalf("OnOpen saw %v", opened)
			}
		})
	}
}

// A network error before any response (the server drops the connection
// without answering) and a read error in the middle of the body both lead to
// a reconnection, reported to OnError.
func TestNetworkErrorsReconnect(t *testing.T) {
	checkGoroutines(t)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 0:
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case 1:
			conn, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
			buf.WriteString("11\r\nid: 7\ndata: a\n\ndat\r\n") // 17 bytes, then the connection dies mid-stream
			buf.Flush()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		default:
			stream(w, "data: b\n\n")
		}
	})
	var mu sync.Mutex
	var errs []error
	c := testClient(t, s.URL, OnError(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }))
	ctx := ctxT(t)
	if ev := mustNext(t, ctx, c); string(ev.Data) != "a" || ev.ID != "7" {
		t.Fatalf("first event %+v", ev)
	}
	if ev := mustNext(t, ctx, c); string(ev.Data) != "b" || ev.ID != "7" {
		t.Fatalf("second event %+v", ev)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 2 || errs[0] == io.EOF || errs[1] == io.EOF {
		t.Fatalf("OnError calls = %v, want two network errors", errs)
	}
	if got := s.requests()[2].Header.Get("Last-Event-ID"); got != "7" {
		t.Fatalf("Last-Event-ID = %q", got)
	}
}

func TestConnectionRefusedReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var errs atomic.Int32
	started := make(chan struct{})
	c := testClient(t, "http://"+addr+"/", OnError(func(err error) {
		if errs.Add(1) == 2 {
			close(started)
		}
	}))
	go func() {
		<-started
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return // port taken meanwhile; Next below then times out and fails
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stream(w, "data: up\n\n") })}
		t.Cleanup(func() { srv.Close() })
		srv.Serve(ln)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := c.Next(ctx)
	if err != nil || string(ev.Data) != "up" {
		t.Fatalf("Next = %+v, %v", ev, err)
	}
	if errs.Load() < 2 {
		t.Fatalf("OnError called %d times, want refused connections reported", errs.Load())
	}
}

func TestEOFReconnectsAndCallbacks(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		stream(w, "data: "+string(rune('a'+n))+"\n\n")
	})
	var opens, errs atomic.Int32
	var retries []time.Duration
	c := testClient(t, s.URL,
		OnOpen(func(r *http.Response) {
			if r.StatusCode == 200 {
				opens.Add(1)
			}
		}),
		OnError(func(err error) {
			if err == io.EOF {
				errs.Add(1)
			}
		}),
		OnRetry(func(d time.Duration, id string) { retries = append(retries, d) }))
	ctx := ctxT(t)
	for i := range 3 {
		ev := mustNext(t, ctx, c)
		if string(ev.Data) != string(rune('a'+i)) {
			t.Fatalf("event %d data %q", i, ev.Data)
		}
		if opens.Load() != int32(i+1) || errs.Load() != int32(i) {
			t.Fatalf("after event %d: %d opens, %d EOF errors", i, opens.Load(), errs.Load())
		}
	}
	if len(retries) != 2 || retries[0] != 5*time.Millisecond {
		t.Fatalf("OnRetry delays %v", retries)
	}
}

func TestCancelDuringWait(t *testing.T) {
	checkGoroutines(t)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { stream(w, "data: a\n\n") })
	lost := make(chan struct{}, 1)
	c := testClient(t, s.URL, WithRetry(time.Hour), OnError(func(error) { lost <- struct{}{} }))
	ctx, cancel := context.WithCancel(context.Background())
	mustNext(t, ctx, c)
	go func() { <-lost; time.Sleep(20 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := c.Next(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("%d requests", n)
	}
}

func TestCancelAndCloseDuringRead(t *testing.T) {
	checkGoroutines(t)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		stream(w, "data: a\n\n")
		<-r.Context().Done()
	})
	c := testClient(t, s.URL)
	ctx, cancel := context.WithCancel(context.Background())
	mustNext(t, ctx, c)
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := c.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v, want context.Canceled", err)
	}
	// A later call with a live context reconnects; Close stops it.
	mustNext(t, ctxT(t), c)
	time.AfterFunc(20*time.Millisecond, func() { c.Close() })
	if _, err := c.Next(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close = %v, want ErrClosed", err)
	}
	if _, err := c.Next(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Next after Close = %v", err)
	}
}

func TestNoReconnect(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { stream(w, "data: a\n\n") })
	c := testClient(t, s.URL, WithReconnect(false))
	ctx := ctxT(t)
	mustNext(t, ctx, c)
	if _, err := c.Next(ctx); err != io.EOF {
		t.Fatalf("Next at end = %v, want io.EOF", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("%d requests", n)
	}
}

func TestBadURLFailsAtOnce(t *testing.T) {
	for _, u := range []string{"ftp://127.0.0.1/", "://x", "http:///nohost"} {
		c := New(u)
		if _, err := c.Next(ctxT(t)); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%q: Next = %v, want an immediate error", u, err)
		}
	}
}

func TestEventTooLarge(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		stream(w, "data: "+strings.Repeat("x", 1000)+"\n\n")
	})
	c := testClient(t, s.URL, WithMaxEventSize(100))
	if _, err := c.Next(ctxT(t)); !errors.Is(err, sse.ErrEventTooLarge) {
		t.Fatalf("Next = %v, want ErrEventTooLarge", err)
	}
}

func TestBackoff(t *testing.T) {
	if got := backoff(10*time.Millisecond, 2, time.Second); got < 200*time.Millisecond || got > 250*time.Millisecond {
		// base is raised to 100ms, doubled once, plus up to a quarter
		t.Fatalf("backoff(10ms, 2) = %v", got)
	}
	if got := backoff(time.Second, 5, 4*time.Second); got != 4*time.Second {
		t.Fatalf("backoff capped = %v", got)
	}
	if got := backoff(5*time.Second, 3, time.Second); got != 5*time.Second {
		t.Fatalf("backoff below server retry = %v", got)
	}
	c := New("http://127.0.0.1/", WithRetry(time.Second), WithBackoff(10*time.Second))
	c.losses = 1
	if got := c.delay(); got != time.Second {
		t.Fatalf("first wait = %v, want the reconnection time", got)
	}
	c.losses = 3
	if got := c.delay(); got < 4*time.Second || got > 5*time.Second {
		t.Fatalf("third wait = %v", got)
	}
}
