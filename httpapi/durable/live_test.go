package durable_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/client"
	"github.com/ssehub/ssehub/sse"
)

func TestLongPoll(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/lp"
	tail := e.mustCreate(p, textPlain, "old")
	// Data past the offset: at once.
	r := e.do("GET", p+"?offset=-1&live=long-poll", "")
	want(t, r, http.StatusOK)
	if r.body != "old" || r.h("Stream-Cursor") == "" {
		t.Fatalf("long-poll with data: %q, cursor %q", r.body, r.h("Stream-Cursor"))
	}
	// Nothing new: 204 after the timeout, with the tail and a cursor.
	start := time.Now()
	r = e.do("GET", p+"?offset="+tail+"&live=long-poll", "")
	want(t, r, http.StatusNoContent)
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("204 after %v, before the 300 ms timeout", waited)
	}
	wantHeader(t, r, "Stream-Next-Offset", tail)
	wantHeader(t, r, "Stream-Up-To-Date", "true")
	cursor := r.h("Stream-Cursor")
	if cursor == "" {
		t.Fatal("no Stream-Cursor on the 204")
	}
	// A cursor echoed back is answered with a later one.
	r = e.do("GET", p+"?offset="+tail+"&live=long-poll&cursor="+cursor, "")
	if r.h("Stream-Cursor") <= cursor && len(r.h("Stream-Cursor")) <= len(cursor) {
		t.Fatalf("cursor %q after echoing %q: want a greater one", r.h("Stream-Cursor"), cursor)
	}
	// An append while it waits wakes it.
	o := publicOpts()
	o.LongPollTimeout = 10 * time.Second
	slow := newEnv(t, o)
	tail = slow.mustCreate(p, textPlain, "")
	got := make(chan resp, 1)
	go func() { got <- slow.do("GET", p+"?offset="+tail+"&live=long-poll", "") }()
	time.Sleep(100 * time.Millisecond)
	next := slow.mustAppend(p, textPlain, "new")
	select {
	case r := <-got:
		want(t, r, http.StatusOK)
		if r.body != "new" || r.h("Stream-Next-Offset") != next {
			t.Fatalf("woken long-poll: %q, offset %q (want %q)", r.body, r.h("Stream-Next-Offset"), next)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long-poll did not return after the append")
	}
	// offset=now waits for what comes next, and a close ends a wait at once.
	go func() { got <- slow.do("GET", p+"?offset=now&live=long-poll", "") }()
	time.Sleep(100 * time.Millisecond)
	want(t, slow.do("POST", p, "", "Stream-Closed", "true"), http.StatusNoContent)
	select {
	case r := <-got:
		want(t, r, http.StatusNoContent)
		wantHeader(t, r, "Stream-Closed", "true")
	case <-time.After(5 * time.Second):
		t.Fatal("closing did not end the long-poll")
	}
}

// sseEvent is one parsed SSE event.
type sseEvent struct{ typ, id, data string }

// openSSE opens a live=sse read and returns its response and a channel of
// its events (closed when the response ends).
func (e *env) openSSE(ctx context.Context, path string, hdr ...string) (*http.Response, <-chan sseEvent) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer close(out)
		defer res.Body.Close()
		d := sse.NewDecoder(bufio.NewReader(res.Body))
		for {
			ev, err := d.Next()
			if err != nil {
				return
			}
			out <- sseEvent{typ: ev.Type, id: ev.ID, data: string(ev.Data)}
		}
	}()
	return res, out
}

func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the SSE response ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no SSE event within 5 s")
	}
	return sseEvent{}
}

func control(t *testing.T, ev sseEvent) map[string]any {
	t.Helper()
	if ev.typ != "control" {
		t.Fatalf("event %q, want control (data %q)", ev.typ, ev.data)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
		t.Fatal(err)
	}
	if m["streamNextOffset"] != ev.id {
		t.Fatalf("control id %q differs from its streamNextOffset %v", ev.id, m["streamNextOffset"])
	}
	return m
}

func TestSSE(t *testing.T) {
	o := publicOpts()
	o.LongPollTimeout = 5 * time.Second
	e := newEnv(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const p = "/v1/stream/live"
	e.mustCreate(p, textPlain, "line1\nline2\r\n data with a space")
	res, ch := e.openSSE(ctx, p+"?offset=-1&live=sse")
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" || res.Header.Get("Stream-SSE-Data-Encoding") != "" {
		t.Fatalf("content type %q, encoding %q", ct, res.Header.Get("Stream-SSE-Data-Encoding"))
	}
	if ev := next(t, ch); ev.typ != "data" || ev.data != "line1\nline2\n data with a space" {
		t.Fatalf("first event %+v", ev)
	}
	c := control(t, next(t, ch))
	if c["upToDate"] != true || c["streamCursor"] == nil {
		t.Fatalf("control %v", c)
	}
	off := e.mustAppend(p, textPlain, "more")
	if ev := next(t, ch); ev.typ != "data" || ev.data != "more" {
		t.Fatalf("live event %+v", ev)
	}
	if c := control(t, next(t, ch)); c["streamNextOffset"] != off {
		t.Fatalf("control %v, want offset %s", c, off)
	}
	// A close ends the response with streamClosed.
	want(t, e.do("POST", p, "", "Stream-Closed", "true"), http.StatusNoContent)
	if c := control(t, next(t, ch)); c["streamClosed"] != true {
		t.Fatalf("control after the close: %v", c)
	}
	if _, ok := <-ch; ok {
		t.Fatal("the response went on after streamClosed")
	}

	// Binary streams are base64, with the header that says so.
	const b = "/v1/stream/bin"
	raw := []byte{0, 1, 2, 0xff, '\n', '\r'}
	e.mustCreate(b, "application/octet-stream", string(raw))
	res, ch = e.openSSE(ctx, b+"?offset=-1&live=sse")
	if res.Header.Get("Stream-SSE-Data-Encoding") != "base64" {
		t.Fatal("no Stream-SSE-Data-Encoding: base64 for a binary stream")
	}
	ev := next(t, ch)
	dec, err := base64.StdEncoding.DecodeString(ev.data)
	if err != nil || string(dec) != string(raw) {
		t.Fatalf("binary data %q: %v", ev.data, err)
	}
}

// TestSSEPlainEventSource: a plain EventSource (ssehub's Go client) that
// knows nothing of Durable Streams resumes by Last-Event-ID each time the
// server ends the response, and gets every append exactly once.
func TestSSEPlainEventSource(t *testing.T) {
	o := publicOpts()
	o.SSEMaxDuration = 200 * time.Millisecond
	e := newEnv(t, o)
	const p = "/v1/stream/es"
	e.mustCreate(p, textPlain, "m0")
	c := client.New(e.url+p+"?offset=-1&live=sse", client.WithRetry(20*time.Millisecond))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 12
	appended := make(chan error, 1)
	go func() {
		defer close(appended)
		for i := 1; i < n && ctx.Err() == nil; i++ {
			time.Sleep(60 * time.Millisecond) // several responses end meanwhile
			req, _ := http.NewRequestWithContext(ctx, "POST", e.url+p, strings.NewReader(fmt.Sprintf("m%d", i)))
			req.Header.Set("Content-Type", textPlain)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				appended <- err
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNoContent {
				appended <- fmt.Errorf("append %d: status %d", i, res.StatusCode)
				return
			}
		}
	}()
	defer func() {
		cancel()
		if err := <-appended; err != nil && ctx.Err() == nil {
			t.Error(err)
		}
	}()
	var all string
	for i := 0; i < n; i++ {
		all += fmt.Sprintf("m%d", i)
	}
	got := ""
	for len(got) < len(all) { // a data event carries what was appended since the last one
		ev, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if ev.Type == "data" {
			got += string(ev.Data)
		}
	}
	if got != all {
		t.Fatalf("got %q, want %q: every append once, in order", got, all)
	}
	if !strings.HasSuffix(c.LastEventID(), "_0000000000000000") {
		t.Fatalf("last event id %q is not an offset", c.LastEventID())
	}
}
