package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RedactURL returns the URL's path and query for a log line with every
// token replaced: the ?token= parameter and a /stream/{token} path.
func RedactURL(u *url.URL) string {
	path := u.EscapedPath()
	if rest, ok := strings.CutPrefix(path, "/stream/"); ok && rest != "" {
		path = "/stream/REDACTED"
	}
	if u.RawQuery == "" {
		return path
	}
	q := u.Query()
	if q.Has("token") {
		q.Set("token", "REDACTED")
	}
	return path + "?" + q.Encode()
}

// statusRecorder remembers the status a handler wrote, for the access log.
// Unwrap lets http.ResponseController reach Flush and deadlines.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	start    time.Time
	detached bool // the stream outlives the handler and logs itself
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// preflight answers a CORS preflight for an allowed origin: GET streams
// and POST publishes, with the headers those need.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w, r)
	if w.Header().Get("Access-Control-Allow-Origin") == "" {
		writeError(w, http.StatusForbidden, codeForbidden, "origin not allowed")
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, Idempotency-Key, Cache-Control")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}
