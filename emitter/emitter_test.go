package emitter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// streamHeaders are the headers every stream carries on any protocol.
var streamHeaders = map[string]string{
	"Content-Type":      "text/event-stream; charset=utf-8",
	"Cache-Control":     "no-cache",
	"X-Accel-Buffering": "no",
}

func checkStreamHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
	for name, want := range streamHeaders {
		if got := resp.Header.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want exactly %q", name, got, want)
		}
	}
	if resp.ContentLength != -1 {
		t.Errorf("ContentLength %d, want unknown (-1)", resp.ContentLength)
	}
}

func TestHeadersHTTP1(t *testing.T) {
	checkGoroutines(t)
	h, ch, release := started(t, Options{})
	srv := newServer(t, h)
	resp := open(t, srv.Client(), srv.URL)
	defer close(release)
	recv(t, ch)
	if resp.ProtoMajor != 1 {
		t.Fatalf("proto %s, want HTTP/1.x", resp.Proto)
	}
	checkStreamHeaders(t, resp)
	if got := resp.Header.Values("Connection"); len(got) != 1 || got[0] != "keep-alive" {
		t.Errorf("Connection: %q, want keep-alive on HTTP/1.1", got)
	}
	if got := resp.TransferEncoding; len(got) != 1 || got[0] != "chunked" {
		t.Errorf("Transfer-Encoding %q, want chunked", got)
	}
}

func TestHeadersHTTP2(t *testing.T) {
	checkGoroutines(t)
	h, ch, release := started(t, Options{})
	srv := newTLSServer(t, h)
	resp := open(t, srv.Client(), srv.URL)
	defer close(release)
	recv(t, ch)
	if resp.ProtoMajor != 2 {
		t.Fatalf("proto %s, want HTTP/2", resp.Proto)
	}
	checkStreamHeaders(t, resp)
	if got, ok := resp.Header["Connection"]; ok {
		t.Errorf("Connection header %q on HTTP/2; it is forbidden there", got)
	}
	s := newStream(resp.Body)
	s.until(t, ": connected\n\n", time.Second)
}

// TestFirstByteFlush checks that the client gets the headers and the first
// comment while the handler has not sent anything yet.
func TestFirstByteFlush(t *testing.T) {
	for _, tc := range []struct {
		name  string
		http2 bool
	}{{"HTTP1", false}, {"HTTP2", true}} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			h, ch, release := started(t, Options{})
			srv := newServer
			if tc.http2 {
				srv = newTLSServer
			}
			s := srv(t, h)
			resp := open(t, s.Client(), s.URL) // returns once headers arrived
			e := recv(t, ch)
			st := newStream(resp.Body)
			if got := st.until(t, "\n\n", time.Second); got != ": connected\n\n" {
				t.Errorf("first bytes %q, want %q", got, ": connected\n\n")
			}
			if err := e.Send("hello", "", ""); err != nil {
				t.Fatal(err)
			}
			st.until(t, "data: hello\n\n", time.Second)
			close(release)
		})
	}
}

func TestRetrySentOnce(t *testing.T) {
	checkGoroutines(t)
	h := Handler(func(_ context.Context, e *Emitter) error {
		for i := range 3 {
			if err := e.Send(i, "n", ""); err != nil {
				return err
			}
		}
		return nil
	}, Options{Retry: 1500 * time.Millisecond})
	srv := newServer(t, h)
	resp := open(t, srv.Client(), srv.URL)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := ": connected\nretry: 1500\n\n" +
		"event: n\ndata: 0\n\nevent: n\ndata: 1\n\nevent: n\ndata: 2\n\n"
	if string(body) != want {
		t.Errorf("body\n%q\nwant\n%q", body, want)
	}
	d := sse.NewDecoder(bytes.NewReader(body))
	for {
		if _, err := d.Next(); err != nil {
			break
		}
	}
	if r, ok := d.Retry(); !ok || r != 1500*time.Millisecond {
		t.Errorf("decoded retry %v %v, want 1.5s", r, ok)
	}
}

func TestNoRetryByDefault(t *testing.T) {
	checkGoroutines(t)
	srv := newServer(t, Handler(func(context.Context, *Emitter) error { return nil }, Options{}))
	resp := open(t, srv.Client(), srv.URL)
	body, _ := io.ReadAll(resp.Body)
	if string(body) != ": connected\n\n" {
		t.Errorf("body %q, want only the first comment", body)
	}
}

func TestSendData(t *testing.T) {
	checkGoroutines(t)
	type point struct {
		X int    `json:"x"`
		S string `json:"s"`
	}
	h := Handler(func(_ context.Context, e *Emitter) error {
		for _, v := range []struct {
			data      any
			event, id string
		}{
			{"plain text", "", ""},
			{[]byte("raw bytes"), "bytes", "1"},
			{json.RawMessage(`{"pre":"encoded"}`), "raw", "2"},
			{point{1, "a<b"}, "point", "3"},
			{42, "", ""},
			{nil, "", ""},
			{"two\nlines", "", ""},
			{"", "empty", ""},
		} {
			if err := e.Send(v.data, v.event, v.id); err != nil {
				return err
			}
		}
		return nil
	}, Options{})
	srv := newServer(t, h)
	resp := open(t, srv.Client(), srv.URL)
	body, _ := io.ReadAll(resp.Body)
	want := ": connected\n\n" +
		"data: plain text\n\n" +
		"event: bytes\nid: 1\ndata: raw bytes\n\n" +
		"event: raw\nid: 2\ndata: {\"pre\":\"encoded\"}\n\n" +
		"event: point\nid: 3\ndata: {\"x\":1,\"s\":\"a\\u003cb\"}\n\n" +
		"data: 42\n\n" +
		"data: null\n\n" +
		"data: two\ndata: lines\n\n" +
		"event: empty\ndata:\n\n"
	if string(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
}

func TestSendInvalidFieldsKeepStreamOpen(t *testing.T) {
	checkGoroutines(t)
	h, ch, release := started(t, Options{})
	srv := newServer(t, h)
	resp := open(t, srv.Client(), srv.URL)
	defer close(release)
	e := recv(t, ch)
	if err := e.Send("x", "bad\nevent", ""); !errors.Is(err, sse.ErrInvalidType) {
		t.Errorf("event with LF: %v, want ErrInvalidType", err)
	}
	if err := e.Send("x", "", "bad\x00id"); !errors.Is(err, sse.ErrInvalidID) {
		t.Errorf("id with NUL: %v, want ErrInvalidID", err)
	}
	if err := e.Send(func() {}, "", ""); err == nil {
		t.Error("a func encoded without error")
	}
	if e.Closed() {
		t.Fatal("an invalid event closed the stream")
	}
	if err := e.Send("fine", "", ""); err != nil {
		t.Fatal(err)
	}
	got := newStream(resp.Body).until(t, "data: fine\n\n", time.Second)
	if got != ": connected\n\ndata: fine\n\n" {
		t.Errorf("body %q: invalid events left bytes behind", got)
	}
}

func TestCommentAndWriteEncoded(t *testing.T) {
	checkGoroutines(t)
	h := Handler(func(_ context.Context, e *Emitter) error {
		if err := e.Comment("one\ntwo"); err != nil {
			return err
		}
		b, _ := sse.AppendEvent(nil, &sse.Event{ID: "7", Type: "shared", Data: []byte("once")})
		for range 2 {
			if err := e.WriteEncoded(b); err != nil {
				return err
			}
		}
		return e.SendEvent(&sse.Event{Data: []byte("r"), Retry: time.Second})
	}, Options{})
	srv := newServer(t, h)
	body, _ := io.ReadAll(open(t, srv.Client(), srv.URL).Body)
	want := ": connected\n\n: one\n: two\n" +
		"event: shared\nid: 7\ndata: once\n\nevent: shared\nid: 7\ndata: once\n\n" +
		"retry: 1000\ndata: r\n\n"
	if string(body) != want {
		t.Errorf("body\n%q\nwant\n%q", body, want)
	}
}

// TestLargeData sends 10 MB in one event and checks a decoder gets it back
// byte for byte (no line is split, no newline added).
func TestLargeData(t *testing.T) {
	checkGoroutines(t)
	data := make([]byte, 10<<20)
	for i := range data {
		data[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i%36]
	}
	for i := 1000; i < len(data); i += 100_003 { // lines of varied length
		data[i] = '\n'
	}
	obj := map[string]string{"blob": string(data[:5<<20])}
	h := Handler(func(_ context.Context, e *Emitter) error {
		if err := e.Send(data, "big", "1"); err != nil {
			return err
		}
		return e.Send(obj, "json", "2")
	}, Options{})
	srv := newServer(t, h)
	resp := open(t, srv.Client(), srv.URL)
	d := sse.NewDecoder(resp.Body)
	ev, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != "big" || ev.ID != "1" || !bytes.Equal(ev.Data, data) {
		t.Errorf("event %q/%q with %d bytes, want big/1 with the %d bytes sent", ev.Type, ev.ID, len(ev.Data), len(data))
	}
	ev, err = d.Next()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(ev.Data, &got); err != nil || got["blob"] != obj["blob"] {
		t.Errorf("JSON event did not round-trip (%v)", err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Errorf("after the events: %v, want EOF", err)
	}
}

// TestConcurrentSend sends from many goroutines at once; every event must
// arrive whole.
func TestConcurrentSend(t *testing.T) {
	checkGoroutines(t)
	const senders, each = 8, 100
	h := Handler(func(_ context.Context, e *Emitter) error {
		var wg sync.WaitGroup
		for g := range senders {
			wg.Go(func() {
				for i := range each {
					payload := strings.Repeat(string(rune('a'+g)), 100+i)
					if err := e.Send(payload+"\n"+payload, "g", ""); err != nil {
						t.Error(err)
						return
					}
					if i%10 == 0 {
						_ = e.Comment("c")
					}
				}
			})
		}
		wg.Wait()
		return nil
	}, Options{KeepAlive: time.Millisecond})
	srv := newServer(t, h)
	resp := open(t, srv.Client(), srv.URL)
	d := sse.NewDecoder(resp.Body)
	counts := map[byte]int{}
	for {
		ev, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		line, rest, ok := strings.Cut(string(ev.Data), "\n")
		if !ok || line != rest || strings.Trim(line, line[:1]) != "" {
			t.Fatalf("torn event %q", ev.Data)
		}
		counts[line[0]]++
	}
	for g := range senders {
		if n := counts[byte('a'+g)]; n != each {
			t.Errorf("sender %d: %d events, want %d", g, n, each)
		}
	}
}

func TestLastEventID(t *testing.T) {
	checkGoroutines(t)
	ids := make(chan string, 1)
	h := Handler(func(_ context.Context, e *Emitter) error {
		ids <- e.LastEventID()
		return nil
	}, Options{})
	srv := newServer(t, h)
	for _, tc := range []struct {
		query  string
		header string
		want   string
	}{
		{"", "", ""},
		{"", "41", "41"},
		{"?last_event_id=17", "", "17"},
		{"?lastEventId=18", "", "18"},
		{"?last_event_id=17&lastEventId=18", "", "17"},
		{"?last_event_id=17", "99", "99"}, // a reconnect's header wins
		{"?lastEventId=a%20b", "", "a b"},
	} {
		var hdr []string
		if tc.header != "" {
			hdr = []string{"Last-Event-ID", tc.header}
		}
		resp := open(t, srv.Client(), srv.URL+tc.query, hdr...)
		io.Copy(io.Discard, resp.Body)
		if got := <-ids; got != tc.want {
			t.Errorf("query %q header %q: LastEventID %q, want %q", tc.query, tc.header, got, tc.want)
		}
	}
}

// TestServerDeadlinesCleared runs a stream longer than the server's read
// and write timeouts, which would otherwise end it.
func TestServerDeadlinesCleared(t *testing.T) {
	checkGoroutines(t)
	h := Handler(func(ctx context.Context, e *Emitter) error {
		for i := range 6 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(60 * time.Millisecond):
			}
			if err := e.Send(i, "", ""); err != nil {
				return err
			}
		}
		return nil
	}, Options{})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	resp := open(t, srv.Client(), srv.URL)
	body := newStream(resp.Body).end(t, 5*time.Second)
	if !strings.HasSuffix(body, "data: 5\n\n") {
		t.Errorf("stream ended early: %q", body)
	}
}

// flushless hides the ResponseWriter's Flush and Unwrap, as a careless
// middleware would.
type flushless struct{ w http.ResponseWriter }

func (f flushless) Header() http.Header         { return f.w.Header() }
func (f flushless) Write(b []byte) (int, error) { return f.w.Write(b) }
func (f flushless) WriteHeader(code int)        { f.w.WriteHeader(code) }

// unwrapping is a middleware's wrapper that exposes the writer it wraps.
type unwrapping struct{ http.ResponseWriter }

func (u unwrapping) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func TestWrappedWriters(t *testing.T) {
	checkGoroutines(t)
	errs := make(chan error, 1)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hidden" {
			_, err := Start(flushless{w}, r, Options{})
			errs <- err
			return
		}
		e, err := Start(unwrapping{w}, r, Options{})
		if err != nil {
			errs <- err
			return
		}
		defer e.Close()
		<-e.Done()
	}))
	resp := open(t, srv.Client(), srv.URL+"/wrapped")
	newStream(resp.Body).until(t, ": connected\n\n", time.Second)
	resp.Body.Close()

	open(t, srv.Client(), srv.URL+"/hidden")
	if err := <-errs; !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("Start on a writer that cannot flush: %v, want ErrNotSupported", err)
	}
}
