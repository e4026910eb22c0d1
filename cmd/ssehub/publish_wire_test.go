package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recorded is one request as the server saw it.
type recorded struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// recordingServer answers every request with status and body and keeps
// what it received.
type recordingServer struct {
	URL    string
	mu     sync.Mutex
	reqs   []recorded
	status int
	answer string
}

func newRecordingServer(t *testing.T) *recordingServer {
	t.Helper()
	rs := &recordingServer{status: 200, answer: `{"id":"42"}`}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		rs.reqs = append(rs.reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), b})
		status, answer := rs.status, rs.answer
		rs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	rs.URL = srv.URL
	return rs
}

func (rs *recordingServer) reply(status int, answer string) {
	rs.mu.Lock()
	rs.status, rs.answer = status, answer
	rs.mu.Unlock()
}

func (rs *recordingServer) last(t *testing.T) recorded {
	t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.reqs) == 0 {
		t.Fatal("no request reached the server")
	}
	return rs.reqs[len(rs.reqs)-1]
}

func TestPublishWireRequest(t *testing.T) {
	rs := newRecordingServer(t)
	t.Setenv("SSEHUB_SERVER", "")
	t.Setenv("SSEHUB_TOKEN", "")

	// Every flag, and a topic that needs escaping as a path segment.
	code, out, errOut := runCmd(t, "publish", "--server", rs.URL, "--token", "T1", "--type", "paid", "--entity", "u 1",
		"--source", "web", "--key", "k/1", "--json", "odd/topic x", `{"a":1}`)
	if code != 0 || out != "42\n" || errOut != "" {
		t.Fatalf("%d %q %q", code, out, errOut)
	}
	r := rs.last(t)
	if r.method != "POST" || r.path != "/publish/odd%2Ftopic%20x" || string(r.body) != `{"a":1}` {
		t.Fatalf("request %s %s %q", r.method, r.path, r.body)
	}
	if r.query != "entity=u+1&source=web&type=paid" {
		t.Fatalf("query %q", r.query)
	}
	if r.header.Get("Authorization") != "Bearer T1" || r.header.Get("Idempotency-Key") != "k/1" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", r.header)
	}

	// Server and token from the environment; no --json means no
	// Content-Type at all (the data is not guessed), and binary data from
	// a file goes out byte for byte.
	t.Setenv("SSEHUB_SERVER", rs.URL+"/")
	t.Setenv("SSEHUB_TOKEN", "from-env")
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	file := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(file, bin, 0o600); err != nil {
		t.Fatal(err)
	}
	rs.reply(200, `{"id":"7","duplicate":true}`)
	if code, out, errOut := runCmd(t, "publish", "a.b", "@"+file); code != 0 || out != "7 (duplicate)\n" {
		t.Fatalf("%d %q %q", code, out, errOut)
	}
	r = rs.last(t)
	if r.path != "/publish/a.b" || r.query != "" || string(r.body) != string(bin) {
		t.Fatalf("request %s?%s %d bytes", r.path, r.query, len(r.body))
	}
	if r.header.Get("Authorization") != "Bearer from-env" || r.header.Get("Content-Type") != "" || r.header.Get("Idempotency-Key") != "" {
		t.Fatalf("headers %v", r.header)
	}

	// --token "" sends no Authorization even with $SSEHUB_TOKEN set.
	rs.reply(200, `{"id":"8"}`)
	if code, _, _ := runCmd(t, "publish", "--token", "", "a.b", "x"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if h := rs.last(t).header; h.Get("Authorization") != "" {
		t.Fatalf("Authorization sent: %v", h)
	}

	// A lone "-" is standard input.
	defer func() { stdin = os.Stdin }()
	stdin = strings.NewReader("piped\n")
	if code, _, _ := runCmd(t, "publish", "a.b", "-"); code != 0 || string(rs.last(t).body) != "piped\n" {
		t.Fatalf("stdin: %d %q", code, rs.last(t).body)
	}
	// Data that starts with "-" follows "--"; without it, it is a flag.
	if code, _, _ := runCmd(t, "publish", "--key", "k2", "a.b", "--", "-x-"); code != 0 || string(rs.last(t).body) != "-x-" || rs.last(t).header.Get("Idempotency-Key") != "k2" {
		t.Fatalf("literal after --: %d %q", code, rs.last(t).body)
	}
	if code, _, _ := runCmd(t, "publish", "a.b", "-x-"); code != 2 {
		t.Fatalf("-x- without --: exit %d, want 2 (unknown flag)", code)
	}
}

func TestPublishWireBatch(t *testing.T) {
	rs := newRecordingServer(t)
	nd := "{\"topic\":\"a\",\"data\":1,\"key\":\"k\"}\n{\"topic\":\"b\",\"data\":2}\n"
	file := filepath.Join(t.TempDir(), "b.ndjson")
	if err := os.WriteFile(file, []byte(nd), 0o600); err != nil {
		t.Fatal(err)
	}
	rs.reply(200, `{"ids":["3","9"],"duplicates":["3"]}`)
	code, out, errOut := runCmd(t, "publish", "--server", rs.URL, "--token", "T", "--batch", file)
	if code != 0 || out != "3 (duplicate)\n9\n" {
		t.Fatalf("%d %q %q", code, out, errOut)
	}
	r := rs.last(t)
	if r.method != "POST" || r.path != "/publish" || r.header.Get("Content-Type") != "application/x-ndjson" ||
		r.header.Get("Authorization") != "Bearer T" || string(r.body) != nd {
		t.Fatalf("%s %s %v %q", r.method, r.path, r.header, r.body)
	}
}

func TestPublishServerAnswers(t *testing.T) {
	rs := newRecordingServer(t)
	for _, c := range []struct {
		status       int
		answer, want string
	}{
		{401, `{"error":{"code":"unauthorized","message":"unknown token"}}`, "ssehub publish: 401 Unauthorized unauthorized: unknown token\n" +
			"ssehub publish: no token was sent: pass a publish or admin token with --token or set SSEHUB_TOKEN\n"},
		{413, `{"error":{"code":"too_large","message":"body over 1048576 bytes"}}`, "ssehub publish: 413 Request Entity Too Large too_large: body over 1048576 bytes\n"},
		{502, "bad gateway from a proxy\n", "ssehub publish: 502 Bad Gateway: bad gateway from a proxy\n"},
		{200, "<html>", "ssehub publish: unexpected answer \"<html>\"\n"},
	} {
		rs.reply(c.status, c.answer)
		code, out, errOut := runCmd(t, "publish", "--server", rs.URL, "a.b", "x")
		if code != 1 || out != "" || errOut != c.want {
			t.Errorf("%d %q: exit %d, out %q, stderr %q, want %q", c.status, c.answer, code, out, errOut, c.want)
		}
	}
	// Help is not an error.
	if code, _, errOut := runCmd(t, "publish", "-h"); code != 0 || !strings.Contains(errOut, "usage: ssehub publish") {
		t.Errorf("-h: %d %q", code, errOut)
	}
}
