package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a concurrency-safe output sink.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs `ssehub serve args…` in-process and returns its URL, its
// stdout and a function that stops it and returns the exit code.
func startServe(t *testing.T, args ...string) (string, *lockedBuffer, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	code := make(chan int, 1)
	go func() { code <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), &out, &errOut) }()
	re := regexp.MustCompile(`listening on (https?://\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			var once sync.Once
			c := 0
			stop := func() int {
				once.Do(func() { cancel(); c = <-code })
				return c
			}
			t.Cleanup(func() { stop() })
			return m[1], &out, stop
		}
		select {
		case c := <-code:
			t.Fatalf("serve exited %d: %s", c, errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve did not start: %s", errOut.String())
	return "", nil, nil
}

func TestServeGeneratesAdminTokenOnce(t *testing.T) {
	t.Setenv("SSEHUB_ADMIN_TOKEN", "")
	dir := t.TempDir()
	url, out, stop := startServe(t, "--data", dir)
	m := regexp.MustCompile(`SSEHUB_TOKEN=([0-9a-f]{64})`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no token printed:\n%s", out.String())
	}
	token := m[1]
	if !strings.Contains(out.String(), "curl") {
		t.Errorf("no ready-to-paste commands:\n%s", out.String())
	}
	publish := func(url string) int {
		req, _ := http.NewRequest("POST", url+"/publish/hello", strings.NewReader("hi"))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := publish(url); c != 200 {
		t.Fatalf("publish with the printed token: %d", c)
	}
	if c := stop(); c != 0 {
		t.Fatalf("serve exit code %d", c)
	}
	// Only the hash is on disk, and a restart keeps the token without printing it.
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), token) {
			t.Errorf("%s holds the raw admin token", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	url2, out2, _ := startServe(t, "--data", dir)
	if strings.Contains(out2.String(), "SSEHUB_TOKEN=") {
		t.Errorf("token printed again on restart:\n%s", out2.String())
	}
	if c := publish(url2); c != 200 {
		t.Fatalf("publish after restart: %d", c)
	}
}

func TestServeConfigStreams(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	os.WriteFile(cfg, []byte("storage: {driver: memory}\nauth: {admin_token: \"${TEST_ADMIN}\"}\nsink:\n  alerts:\n    type: sse\n    path: /live\n    match: alert.*\n    heartbeat_timeout: 15\n"), 0o600)
	t.Setenv("TEST_ADMIN", "secret-admin")
	url, _, _ := startServe(t, "--config", cfg)
	resp, err := http.Get(url + "/alerts/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(resp.Body, buf, len("event: info\ndata: connected\n\n"))
	if resp.StatusCode != 200 || string(buf[:n]) != "event: info\ndata: connected\n\n" {
		t.Fatalf("%d %q", resp.StatusCode, buf[:n])
	}
	req, _ := http.NewRequest("POST", url+"/publish/alert.disk", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer secret-admin")
	r2, err := http.DefaultClient.Do(req)
	if err != nil || r2.StatusCode != 200 {
		t.Fatalf("publish with the configured admin token: %v %v", r2, err)
	}
	r2.Body.Close()
}

func TestServeBadConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("streams:\n  s:\n    format: xml\n"), 0o600)
	var out, errOut lockedBuffer
	if c := run(context.Background(), []string{"serve", "--config", cfg}, &out, &errOut); c != 2 || !strings.Contains(errOut.String(), "streams.s.format") {
		t.Fatalf("exit %d: %s", c, errOut.String())
	}
}

// TestHeaderReadTimeout: a client that never finishes its headers is
// disconnected after server.read_header_timeout.
func TestHeaderReadTimeout(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("storage: {driver: memory}\nserver: {read_header_timeout: 300ms}\n"), 0o600)
	t.Setenv("SSEHUB_ADMIN_TOKEN", "x")
	url, _, _ := startServe(t, "--config", cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // never the blank line
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(conn)
	if d := time.Since(start); err != nil || d > 3*time.Second {
		t.Fatalf("connection held %v (%v)", d, err)
	}
}

// TestServePprof: --pprof serves Go's profiler on its own listener, and
// the hub's own address does not.
func TestServePprof(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u, _, _ := startServe(t, "--store", "memory", "--data", t.TempDir(), "--pprof", addr)
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "goroutine profile") {
		t.Fatalf("pprof: %d %.200s", resp.StatusCode, b)
	}
	resp, err = http.Get(u + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("the hub's address serves the profiler: %d", resp.StatusCode)
	}
}
