package emitter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestKeepAliveOnlyWhenIdle sends events more often than the keep-alive
// interval (no keep-alive may appear), then goes idle (keep-alives must).
func TestKeepAliveOnlyWhenIdle(t *testing.T) {
	checkGoroutines(t)
	const interval = 150 * time.Millisecond
	h := Handler(func(ctx context.Context, e *Emitter) error {
		for i := range 20 { // 20 events, 20 ms apart: 400 ms busy
			if err := e.Send(i, "", ""); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := e.Send("last", "", ""); err != nil {
			return err
		}
		select { // idle for 3.5 intervals
		case <-ctx.Done():
		case <-time.After(interval*3 + interval/2):
		}
		return nil
	}, Options{KeepAlive: interval})
	srv := newServer(t, h)
	body := newStream(open(t, srv.Client(), srv.URL).Body).end(t, 5*time.Second)
	busy, idle, ok := strings.Cut(body, "data: last\n\n")
	if !ok {
		t.Fatalf("no last event in %q", body)
	}
	if strings.Contains(busy, "keepalive") {
		t.Errorf("keep-alive sent while events flowed faster than the interval:\n%s", busy)
	}
	if n := strings.Count(idle, ":keepalive\n\n"); n < 2 || n > 4 || idle != strings.Repeat(":keepalive\n\n", n) {
		t.Errorf("idle part %q: want 3 (2 to 4) keep-alive comments and nothing else", idle)
	}
}

func TestTimeoutCloses(t *testing.T) {
	checkGoroutines(t)
	errs := make(chan error, 1)
	h := Handler(func(ctx context.Context, e *Emitter) error {
		<-ctx.Done()
		errs <- e.Err()
		if err := e.Send("late", "", ""); !errors.Is(err, ErrTimeout) {
			t.Errorf("Send after timeout: %v, want ErrTimeout", err)
		}
		return nil
	}, Options{Timeout: 200 * time.Millisecond, KeepAlive: 50 * time.Millisecond})
	srv := newServer(t, h)
	start := time.Now()
	body := newStream(open(t, srv.Client(), srv.URL).Body).end(t, 3*time.Second)
	if took := time.Since(start); took < 200*time.Millisecond || took > 2*time.Second {
		t.Errorf("stream lasted %v, want about 200ms", took)
	}
	if err := <-errs; !errors.Is(err, ErrTimeout) {
		t.Errorf("Err after timeout: %v, want ErrTimeout", err)
	}
	if !strings.HasPrefix(body, ": connected\n\n:keepalive\n\n") || strings.Contains(body, "late") ||
		!strings.HasSuffix(body, "event: end\nid: end\ndata: {\"reason\":\"timeout\"}\n\n") {
		t.Errorf("body %q: want keep-alives, then the end event", body)
	}
}

func TestCloseIdempotent(t *testing.T) {
	checkGoroutines(t)
	h, ch, release := started(t, Options{KeepAlive: 10 * time.Millisecond, Timeout: time.Hour})
	srv := newServer(t, h)
	resp := open(t, srv.Client(), srv.URL)
	e := recv(t, ch)
	if e.Closed() || e.Err() != nil {
		t.Fatalf("new stream: Closed %v, Err %v", e.Closed(), e.Err())
	}
	for i := range 3 {
		if err := e.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	wait(t, e.Done(), time.Second, "Done after Close")
	if !e.Closed() || !errors.Is(e.Err(), ErrClosed) {
		t.Errorf("after Close: Closed %v, Err %v", e.Closed(), e.Err())
	}
	for name, err := range map[string]error{
		"Send":         e.Send("x", "", ""),
		"Comment":      e.Comment("x"),
		"WriteEncoded": e.WriteEncoded([]byte("data: x\n\n")),
		"Error":        e.Error("c", "m"),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if err := e.Wait(); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait: %v, want ErrClosed", err)
	}
	close(release)
	if body := newStream(resp.Body).end(t, time.Second); body != ": connected\n\n" {
		t.Errorf("body %q: something was written after Close", body)
	}
}

// TestDisconnectWhileIdle checks that a client hanging up is noticed within
// a second although the stream writes nothing.
func TestDisconnectWhileIdle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		http2 bool
	}{{"HTTP1", false}, {"HTTP2", true}} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			h, ch, release := started(t, Options{KeepAlive: time.Hour})
			defer close(release)
			newSrv := newServer
			if tc.http2 {
				newSrv = newTLSServer
			}
			srv := newSrv(t, h)
			ctx, cancel := context.WithCancel(t.Context())
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			e := recv(t, ch)
			io.ReadAtLeast(resp.Body, make([]byte, 4), 4)
			cancel()
			resp.Body.Close()
			start := time.Now()
			wait(t, e.Done(), time.Second, "Done after the client hung up")
			t.Logf("noticed after %v", time.Since(start))
			if !e.Closed() || !errors.Is(e.Err(), ErrClientGone) {
				t.Errorf("Closed %v, Err %v; want true, ErrClientGone", e.Closed(), e.Err())
			}
			if err := e.Send("x", "", ""); !errors.Is(err, ErrClientGone) {
				t.Errorf("Send after hang-up: %v, want ErrClientGone", err)
			}
		})
	}
}

// TestWriteErrorCloses lets a client stop reading so that a write times
// out; the stream must end with that write's error.
func TestWriteErrorCloses(t *testing.T) {
	checkGoroutines(t)
	h, ch, release := started(t, Options{WriteTimeout: 100 * time.Millisecond})
	defer close(release)
	srv := newServer(t, h)
	open(t, srv.Client(), srv.URL) // never read
	e := recv(t, ch)
	chunk := strings.Repeat("x", 1<<20)
	var err error
	for range 200 { // far more than socket buffers hold
		if err = e.Send(chunk, "", ""); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send to a client that does not read: %v, want a deadline error", err)
	}
	if !e.Closed() || !errors.Is(e.Err(), os.ErrDeadlineExceeded) {
		t.Errorf("after the write error: Closed %v, Err %v", e.Closed(), e.Err())
	}
	if err := e.Comment("x"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Comment after the write error: %v, want the write error again", err)
	}
}

// TestNoGoroutineLeak runs many streams with keep-alive and timeout that
// end in every way, and checks nothing is left behind (checkGoroutines).
func TestNoGoroutineLeak(t *testing.T) {
	checkGoroutines(t)
	h := Handler(func(ctx context.Context, e *Emitter) error {
		switch e.LastEventID() {
		case "close":
			return e.Close()
		case "error":
			return &Error{Code: "x", Message: "y"}
		}
		<-ctx.Done() // timeout or client gone
		return nil
	}, Options{KeepAlive: 5 * time.Millisecond, Timeout: 300 * time.Millisecond})
	srv := newServer(t, h)
	for _, id := range []string{"close", "error", "timeout", "hangup", "close", "timeout"} {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		req.Header.Set("Last-Event-ID", id)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if id == "hangup" {
			io.ReadAtLeast(resp.Body, make([]byte, 4), 4)
		} else {
			io.Copy(io.Discard, resp.Body)
		}
		cancel()
		resp.Body.Close()
	}
	srv.Client().CloseIdleConnections()
}
