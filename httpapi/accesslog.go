package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Redacted replaces every secret in a logged URL.
const Redacted = "REDACTED"

// LogRequest writes r's access log line, with every secret redacted (see
// RedactURL).
func (s *Server) LogRequest(r *http.Request, status int, start time.Time) {
	s.opts.Logger.Info("request", "method", r.Method, "path", RedactURL(r.URL), "status", status,
		"remote", r.RemoteAddr, "duration", time.Since(start))
}

// secretSegments are the path segments after which a path carries a token
// (/stream/{token}, /ingest/{token}), compared case-insensitively.
var secretSegments = map[string]bool{"stream": true, "ingest": true}

// RedactURL returns the URL's path and query for a log line with every
// token replaced. It looks at the path as sent, not as routed, so
// "//stream/<token>", "/./stream/…", "/x/../stream/…" and "/STREAM/…" are
// redacted too: a segment after "stream" or "ingest", and any segment or
// query value that looks like a token (long, without dots), whatever its
// name. The token query parameter is always redacted.
func RedactURL(u *url.URL) string {
	segs := strings.Split(u.EscapedPath(), "/")
	for i, seg := range segs {
		if (i > 0 && secretSegments[strings.ToLower(segs[i-1])]) && seg != "" || looksSecret(seg) {
			segs[i] = Redacted
		}
	}
	path := strings.Join(segs, "/")
	if u.RawQuery == "" {
		return path
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return path + "?" + Redacted
	}
	for k, vs := range q {
		for i, v := range vs {
			if strings.EqualFold(k, "token") || looksSecret(v) {
				vs[i] = Redacted
			}
		}
	}
	return path + "?" + q.Encode()
}

// looksSecret reports whether s could be a token: 24 characters or more of
// letters, digits, '-' and '_' and no dot (topics have dots when long;
// tokens never do).
func looksSecret(s string) bool {
	if len(s) < 24 {
		return false
	}
	if u, err := url.PathUnescape(s); err == nil {
		s = u
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
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

// Detach marks w's request as one whose stream outlives its handler: the
// access log line is written when the stream ends, by the returned
// function (nil when the access log is off).
func (s *Server) Detach(w http.ResponseWriter, r *http.Request) func() {
	rec, ok := w.(*statusRecorder)
	if !ok {
		return nil
	}
	rec.detached = true
	return func() { s.LogRequest(r, rec.status, rec.start) }
}
