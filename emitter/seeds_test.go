package emitter

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPreflight: an OPTIONS request is answered, never run as a stream,
// by Handler and by Start.
func TestPreflight(t *testing.T) {
	checkGoroutines(t)
	ran := make(chan struct{}, 4)
	h := Handler(func(context.Context, *Emitter) error { ran <- struct{}{}; return nil }, Options{CORSOrigin: "https://app.example.com"})
	srv := newServer(t, h)
	do := func(origin, method string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if method != "" {
			req.Header.Set("Access-Control-Request-Method", method)
			req.Header.Set("Access-Control-Request-Headers", "last-event-id")
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := do("https://app.example.com", "GET")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Last-Event-ID") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") || resp.Header.Get("Content-Type") == "text/event-stream; charset=utf-8" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := do("https://evil.example", "GET"); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an origin not allowed: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := do("", ""); resp.StatusCode != 204 || resp.Header.Get("Allow") == "" {
		t.Errorf("plain OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
	select {
	case <-ran:
		t.Fatal("the callback ran for an OPTIONS request")
	default:
	}
}

// TestEndAndFinishedReconnect: End sends the documented end event and
// closes; a reconnection with its id gets 204 and the callback does not
// run again.
func TestEndAndFinishedReconnect(t *testing.T) {
	checkGoroutines(t)
	runs := make(chan struct{}, 4)
	h := Handler(func(ctx context.Context, e *Emitter) error {
		runs <- struct{}{}
		if err := e.Send("work", "", "1"); err != nil {
			return err
		}
		return e.End(map[string]any{"complete": true})
	}, Options{})
	srv := newServer(t, h)
	body := newStream(open(t, srv.Client(), srv.URL).Body).end(t, 3*time.Second)
	if body != ": connected\n\nid: 1\ndata: work\n\nevent: end\nid: end\ndata: {\"complete\":true}\n\n" {
		t.Errorf("body %q", body)
	}
	resp := open(t, srv.Client(), srv.URL, "Last-Event-ID", "end")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("reconnect after the end: %d, want 204", resp.StatusCode)
	}
	if len(runs) != 1 {
		t.Errorf("callback ran %d times, want once", len(runs))
	}
	// The HPBN convention: a message whose id is CLOSE.
	h2 := Handler(func(ctx context.Context, e *Emitter) error { return e.End("bye") }, Options{EndEvent: "message", EndID: "CLOSE"})
	srv2 := newServer(t, h2)
	if body := newStream(open(t, srv2.Client(), srv2.URL).Body).end(t, 3*time.Second); body != ": connected\n\nid: CLOSE\ndata: bye\n\n" {
		t.Errorf("HPBN end: %q", body)
	}
}

// TestKeepAliveComment: the keep-alive bytes are the hub's, and their text
// is configurable.
func TestKeepAliveComment(t *testing.T) {
	if got := string(KeepAliveBytes("")); got != ":keepalive\n\n" {
		t.Errorf("default keep-alive %q", got)
	}
	checkGoroutines(t)
	h := Handler(func(ctx context.Context, e *Emitter) error {
		select {
		case <-ctx.Done():
		case <-time.After(120 * time.Millisecond):
		}
		return nil
	}, Options{KeepAlive: 50 * time.Millisecond, KeepAliveComment: "ping"})
	srv := newServer(t, h)
	body := newStream(open(t, srv.Client(), srv.URL).Body).end(t, 3*time.Second)
	if !strings.HasPrefix(body, ": connected\n\n:ping\n\n") || strings.Contains(body, "keepalive") {
		t.Errorf("body %q", body)
	}
	if err := (Options{KeepAliveComment: "a\nb"}).Validate(); err == nil {
		t.Error("a keep-alive comment with a line break is valid")
	}
}
