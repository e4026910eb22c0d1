package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func body(t *testing.T, srv *httptest.Server, path string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBoxLangBasic: the bytes of BoxLang's Basic Synchronous Streaming.
func TestBoxLangBasic(t *testing.T) {
	srv := httptest.NewServer(routes(time.Minute))
	defer srv.Close()
	st, b := body(t, srv, "/api/sse/stream")
	want := ": connected\n\ndata: Hello from server!\n\n" +
		"event: update\ndata: {\"status\":\"processing\",\"progress\":25}\n\n" +
		"event: update\ndata: {\"status\":\"processing\",\"progress\":50}\n\n" +
		"event: update\ndata: {\"status\":\"processing\",\"progress\":75}\n\n" +
		"event: done\ndata: {\"complete\":true}\n\n" +
		"event: end\nid: end\ndata: {\"reason\":\"done\"}\n\n"
	if st != 200 || b != want {
		t.Fatalf("%d %q", st, b)
	}
	if st, _ := body(t, srv, "/api/sse/stream", "Last-Event-ID", "end"); st != 204 {
		t.Fatalf("reconnect after the end: %d", st)
	}
	if _, b := body(t, srv, "/path/to/stream-url"); !strings.HasSuffix(b, "id: CLOSE\ndata: bye\n\n") {
		t.Fatalf("HPBN: %q", b)
	}
}
