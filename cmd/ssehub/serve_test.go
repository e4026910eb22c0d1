package main

import (
	"bufio"
	"context"
	"crypto/tls"
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

	"github.com/ssehub/ssehub"
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

// TestServePebbleNeedsTheTag: a build without -tags pebble says how to get
// the pebble store instead of only that it is missing.
func TestServePebbleNeedsTheTag(t *testing.T) {
	if _, linked := ssehub.LookupDriver("pebble"); linked {
		t.Skip("this build links the pebble store (-tags pebble)")
	}
	var out, errOut lockedBuffer
	c := run(context.Background(), []string{"serve", "--store", "pebble", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, &out, &errOut)
	if c == 0 || !strings.Contains(errOut.String(), "-tags pebble") {
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

// TestServeBindFailureStoresNoToken guards the first-use item: if the first
// serve could not bind, the admin token's hash was stored but the token
// never shown, and the next start printed nothing. A serve that fails
// before it serves (a taken port, a TLS key that cannot be loaded) exits
// non-zero and stores nothing: the next start on a free port with the same
// data directory prints a token, and that token works.
func TestServeBindFailureStoresNoToken(t *testing.T) {
	t.Setenv("SSEHUB_ADMIN_TOKEN", "")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
	}{
		{"a taken port", []string{"serve", "--addr", taken.Addr().String(), "--data", dir}},
		{"a missing TLS key", []string{"serve", "--addr", "127.0.0.1:0", "--data", dir,
			"--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", filepath.Join(dir, "none.key")}},
	} {
		var out, errOut lockedBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		code := run(ctx, c.args, &out, &errOut)
		cancel()
		if code == 0 {
			t.Errorf("serve with %s exited 0", c.name)
		}
		if strings.Contains(out.String(), "SSEHUB_TOKEN=") || strings.Contains(out.String(), "listening") {
			t.Errorf("serve with %s printed:\n%s", c.name, out.String())
		}
		if !strings.Contains(errOut.String(), "serve failed") {
			t.Errorf("serve with %s: no error logged:\n%s", c.name, errOut.String())
		}
	}
	url, out, _ := startServe(t, "--data", dir)
	m := regexp.MustCompile(`SSEHUB_TOKEN=([0-9a-f]{64})`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the start after failed ones printed no token:\n%s", out.String())
	}
	req, _ := http.NewRequest("POST", url+"/publish/hello", strings.NewReader("hi"))
	req.Header.Set("Authorization", "Bearer "+m[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish with the printed token: %d", resp.StatusCode)
	}
}

// TestServeConnectionLimits guards defect 4 through a real serve: the
// config's server.idle_timeout, server.read_header_timeout and
// limits.max_connections reach the listener and the http.Server. A
// keep-alive connection that idles is closed, a client that sends less
// than a request line is cut, a connection past the bound gets a JSON
// 503, and net/http's own 400 is JSON.
func TestServeConnectionLimits(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("storage: {driver: memory}\nserver: {idle_timeout: 2s, read_header_timeout: 2s}\nlimits: {max_connections: 2}\n"), 0o600)
	t.Setenv("SSEHUB_ADMIN_TOKEN", "x")
	url, _, _ := startServe(t, "--config", cfg)
	addr := strings.TrimPrefix(url, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	closedWithin := func(what string, c net.Conn) {
		t.Helper()
		start := time.Now()
		if _, err := io.Copy(io.Discard, c); err != nil && time.Since(start) >= 9*time.Second {
			t.Errorf("%s: still open after %v", what, time.Since(start))
		}
	}
	// net/http's 400, rewritten.
	c := dial()
	io.WriteString(c, "GARBAGE\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(b), `"code":"BAD_REQUEST"`) {
		t.Errorf("malformed request: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	c.Close()
	// An idle keep-alive connection.
	idle := dial()
	io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	// A dribbler, and both places are taken.
	dribble := dial()
	io.WriteString(dribble, "GE")
	time.Sleep(50 * time.Millisecond)
	third := dial()
	io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err = http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(b), `"code":"UNAVAILABLE"`) {
		t.Errorf("a connection past limits.max_connections: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	closedWithin("an idle keep-alive connection", idle)
	closedWithin("a client that sent 2 bytes", dribble)
	// Both places are free again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place freed: %v %v", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeTLSRefusesWithoutPlainText: past limits.max_connections a TLS
// serve closes the connection without writing the plain-text 503 a
// cleartext one gets (a TLS client would read it as a broken handshake),
// and a place freed is served again.
func TestServeTLSRefusesWithoutPlainText(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("storage: {driver: memory}\nlimits: {max_connections: 1}\n"), 0o600)
	t.Setenv("SSEHUB_ADMIN_TOKEN", "x")
	url, _, _ := startServe(t, "--config", cfg, "--tls-self-signed")
	addr := strings.TrimPrefix(url, "https://")
	held, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	refused, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	refused.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(refused)
	if len(b) != 0 || err != nil {
		t.Errorf("a refused TLS connection got %q (%v), want it closed", b, err)
	}
	held.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the freed place is not served: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	client.CloseIdleConnections()
}

// TestServeBannerListsPullEndpoints checks that the startup banner says
// where each pull endpoint extracts and confirms, and that the printed
// extract URL is served.
func TestServeBannerListsPullEndpoints(t *testing.T) {
	t.Setenv("SSEHUB_ADMIN_TOKEN", "")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssehub.yaml")
	os.WriteFile(cfg, []byte("sink:\n  accounting_service:\n    type: 'http_pull'\n    match: 'invoice.*'\n"+
		"streams:\n  jobs:\n    mode: pull\n    match: [\"job.*\"]\n"), 0o600)
	_, out, _ := startServe(t, "--data", filepath.Join(dir, "data"), "--config", cfg)
	// startServe returns at the banner's first line; the rest follows.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "console:") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	m := regexp.MustCompile(`(http://\S+/accounting_service/extract), (http://\S+/accounting_service/mark-processed)\s+\(accounting_service; match invoice\.\*; public\)`).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "pull endpoints:") {
		t.Fatalf("banner does not list the http_pull sink:\n%s", out.String())
	}
	if !regexp.MustCompile(`/jobs/extract, http://\S+/jobs/mark-processed\s+\(jobs; match job\.\*; token\)`).MatchString(out.String()) {
		t.Errorf("banner does not list the mode: pull stream:\n%s", out.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d, want 200", m[1], resp.StatusCode)
	}
}
