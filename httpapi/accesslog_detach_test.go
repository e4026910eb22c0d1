package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"
)

// TestDetachKeepsNoConnection: the function that writes a detached
// stream's access log line when the stream ends holds only the line's
// fields. It held the request and the response writer, so with
// server.access_log on every detached stream kept net/http's connection
// (and over TLS its tls.Conn) reachable: 35 KB per idle TLS stream
// instead of 7.
func TestDetachKeepsNoConnection(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{opts: Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}}
	w := &statusRecorder{ResponseWriter: httptest.NewRecorder(), start: time.Now()}
	w.WriteHeader(http.StatusOK)
	r := httptest.NewRequest("GET", "/events?topic=a&token=0123456789abcdef0123456789abcdef", nil)
	wp, rp := weak.Make(w.ResponseWriter.(*httptest.ResponseRecorder)), weak.Make(r)
	logLine := s.Detach(w, r)
	w, r = nil, nil
	for range 3 {
		runtime.GC()
	}
	if wp.Value() != nil || rp.Value() != nil {
		t.Errorf("a detached stream's log function keeps the response writer (%v) or the request (%v) reachable", wp.Value() != nil, rp.Value() != nil)
	}
	logLine()
	line := logs.String()
	if !strings.Contains(line, "status=200") || !strings.Contains(line, "path=") || strings.Contains(line, "0123456789abcdef0123") {
		t.Errorf("the line: %s", line)
	}
}
