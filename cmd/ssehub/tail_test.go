package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tailServer records request headers and serves the n-th request (from 0)
// with h.
type tailServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []http.Header
}

func newTailServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) *tailServer {
	t.Helper()
	s := &tailServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, r.Header.Clone())
		s.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *tailServer) headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.reqs...)
}

func sendStream(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	io.WriteString(w, body)
	w.(http.Flusher).Flush()
}

// tail runs "ssehub tail args..." in-process and returns its exit code,
// stdout and stderr.
func tail(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	if ctx == nil {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = c
	}
	var out, errb bytes.Buffer
	code := run(ctx, append([]string{"tail"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

const jsonlStream = "retry: 10\n: hi\nid: 1\ndata: {\"x\":1}\n\n" +
	"event: orders.created\ndata: <a href=\"x\">&</a>\ndata: line2\n\n" +
	"id: é✓\ndata: \xff\xfe tab\t\"q\" \\ \u2028\n\n" +
	"id\ndata\n\ndata: unterminated\n"

const jsonlWant = `{"type":"message","data":"{\"x\":1}","id":"1"}
{"type":"orders.created","data":"<a href=\"x\">&</a>\nline2","id":"1"}
{"type":"message","data":"�� tab\t\"q\" \\ \u2028","id":"é✓"}
{"type":"message","data":"","id":""}
`

func TestTailJSONL(t *testing.T) {
	s := newTailServer(t, func(w http.ResponseWriter, r *http.Request, n int) { sendStream(w, jsonlStream) })
	code, out, errs := tail(t, nil, s.URL, "--jsonl", "--once")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if out != jsonlWant {
		t.Fatalf("stdout:\n%s\nwant:\n%s", out, jsonlWant)
	}
	if errs != "" {
		t.Fatalf("stderr not empty with --jsonl: %q", errs)
	}
	if n := len(s.headers()); n != 1 {
		t.Fatalf("%d requests with --once", n)
	}
}

func TestTailText(t *testing.T) {
	s := newTailServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		sendStream(w, "id: 42\nevent: orders.created\ndata: {\"x\":1}\n\ndata: a\ndata: b\n\n")
	})
	code, out, errs := tail(t, nil, "--once", s.URL)
	want := "[id 42] orders.created: {\"x\":1}\n[id 42] message: a\n  b\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, stdout %q, want %q", code, out, want)
	}
	if !strings.Contains(errs, "connected to") {
		t.Fatalf("stderr %q lacks the connection message", errs)
	}
}

func TestTailMaxEvents(t *testing.T) {
	s := newTailServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		sendStream(w, "id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n")
		<-r.Context().Done()
	})
	code, out, _ := tail(t, nil, s.URL, "--jsonl", "--max-events", "2")
	want := `{"type":"message","data":"a","id":"1"}` + "\n" + `{"type":"message","data":"b","id":"2"}` + "\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}

func TestTailReconnectsWithLastEventID(t *testing.T) {
	s := newTailServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 0:
			sendStream(w, "retry: 20\nid: 7\ndata: a\n\n")
		default:
			sendStream(w, "data: b\n\n")
			<-r.Context().Done()
		}
	})
	start := time.Now()
	// An initial retry of an hour: only the server's 20ms lets this finish.
	code, out, errs := tail(t, nil, s.URL, "--jsonl", "--max-events", "2", "--retry", "1h")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	want := `{"type":"message","data":"a","id":"7"}` + "\n" + `{"type":"message","data":"b","id":"7"}` + "\n"
	if out != want {
		t.Fatalf("stdout %q", out)
	}
	h := s.headers()
	if len(h) != 2 || h[1].Get("Last-Event-ID") != "7" {
		t.Fatalf("reconnection headers %v", h)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("reconnected before the retry delay")
	}
}

func TestTailHeadersAndLastEventID(t *testing.T) {
	s := newTailServer(t, func(w http.ResponseWriter, r *http.Request, n int) { sendStream(w, "data: x\n\n") })
	t.Setenv("SSEHUB_TOKEN", "envtoken")

	code, _, errs := tail(t, nil, s.URL, "--once", "-H", "X-A: 1", "-H", "X-B:  two words ", "--last-event-id", "é 5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	h := s.headers()[0]
	if h.Get("X-A") != "1" || h.Get("X-B") != "two words" {
		t.Errorf("extra headers: %v", h)
	}
	if got := h["Last-Event-Id"]; len(got) != 1 || got[0] != "é 5" {
		t.Errorf("Last-Event-ID = %q", got)
	}
	if got := h.Get("Authorization"); got != "Bearer envtoken" {
		t.Errorf("Authorization from SSEHUB_TOKEN = %q", got)
	}
	if h.Get("Accept") != "text/event-stream" {
		t.Errorf("Accept = %q", h.Get("Accept"))
	}

	tail(t, nil, s.URL, "--once", "--token", "flagtoken")
	if got := s.headers()[1].Get("Authorization"); got != "Bearer flagtoken" {
		t.Errorf("Authorization from --token = %q", got)
	}
	tail(t, nil, s.URL, "--once", "-H", "Authorization: Basic abc")
	if got := s.headers()[2].Values("Authorization"); len(got) != 1 || got[0] != "Basic abc" {
		t.Errorf("Authorization with -H = %q, want only the given one", got)
	}
}

func TestTailConnectionFailed(t *testing.T) {
	cases := []struct {
		name, ct, body, msg string
		status              int
	}{
		{"404", "application/json", `{"error":{"code":"not_found","message":"no such stream"}}`,
			"failed: HTTP 404 Not Found: not_found: no such stream\n", 404},
		{"204", "", "", "failed: HTTP 204 No Content\n", 204},
		{"wrong type", "text/html", "<p>hi</p>", `failed: HTTP 200 OK: Content-Type "text/html" is not text/event-stream`, 200},
		{"plain text", "text/plain", "  no\n\tstream here \n", "failed: HTTP 502 Bad Gateway: no stream here\n", 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTailServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", tc.ct)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			code, out, errs := tail(t, nil, s.URL, "--jsonl", "--retry", "1ms")
			if code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if out != "" {
				t.Fatalf("stdout %q", out)
			}
			// One line that names the URL; the server's JSON error is
			// shown as code and message, not as raw JSON.
			if want := "ssehub tail: connection to " + s.URL + " failed: "; !strings.HasPrefix(errs, want) || strings.Count(errs, "\n") != 1 {
				t.Fatalf("stderr %q: want one line starting %q", errs, want)
			}
			if !strings.Contains(errs, tc.msg) {
				t.Fatalf("stderr %q lacks %q", errs, tc.msg)
			}
			if n := len(s.headers()); n != 1 {
				t.Fatalf("%d requests, want no reconnection", n)
			}
		})
	}
}

func TestTailOnceNetworkError(t *testing.T) {
	s := newTailServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		conn, buf, _ := w.(http.Hijacker).Hijack()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
		buf.WriteString("a\r\ndata: a\n\n\r\n")
		buf.Flush()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	})
	code, out, errs := tail(t, nil, s.URL, "--jsonl", "--once")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", code, errs)
	}
	if out != `{"type":"message","data":"a","id":""}`+"\n" {
		t.Fatalf("stdout %q", out)
	}
	if errs == "" {
		t.Fatal("no message on stderr")
	}
}

func TestTailCancelExitsZero(t *testing.T) {
	s := newTailServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		sendStream(w, "data: a\n\n")
		<-r.Context().Done()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	code, out, _ := tail(t, ctx, s.URL, "--jsonl")
	if code != 0 || out != `{"type":"message","data":"a","id":""}`+"\n" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}

func TestTailBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"http://127.0.0.1:1/", "http://127.0.0.1:2/"},
		{"http://127.0.0.1:1/", "--nope"},
		{"http://127.0.0.1:1/", "--max-events", "-1"},
		{"http://127.0.0.1:1/", "--max-events", "x"},
		{"http://127.0.0.1:1/", "-H", "no colon"},
		{"http://127.0.0.1:1/", "--last-event-id", "a\nb"},
		{"ftp://127.0.0.1/"},
	} {
		if code, out, errs := tail(t, nil, args...); code != 2 || out != "" || errs == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and a message", args, code, out, errs)
		}
	}
}

// The real binary: each JSON line reaches a pipe while the stream is still
// open (flushed per event), and stdout holds nothing else.
func TestTailBinaryJSONL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "ssehub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	next := make(chan struct{})
	s := newTailServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		sendStream(w, "id: 1\ndata: first <&>\n\n")
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		sendStream(w, "event: x\ndata: second\n\n")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "tail", "--jsonl", "--once", s.URL)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(stdout)
	line, err := br.ReadString('\n')
	if err != nil || line != `{"type":"message","data":"first <&>","id":"1"}`+"\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(next)
	rest, _ := io.ReadAll(br)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v; stderr %q", err, stderr.String())
	}
	if string(rest) != `{"type":"x","data":"second","id":"1"}`+"\n" {
		t.Fatalf("rest of stdout %q", rest)
	}
}
