package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Redacted replaces every secret in a logged URL.
const Redacted = "REDACTED"

// LogRequest writes r's access log line, with every secret redacted (see
// RedactURL; the admin token is also recognised by its hash, whatever its
// form).
func (s *Server) LogRequest(r *http.Request, status int, start time.Time) {
	s.logLine(r.Method, redactURL(r.URL, s.isAdminSecret), r.RemoteAddr, status, start)
}

func (s *Server) logLine(method, path, remote string, status int, start time.Time) {
	s.opts.Logger.Info("request", "method", method, "path", path, "status", status,
		"remote", remote, "duration", time.Since(start))
}

// isAdminSecret reports whether v is the admin token.
func (s *Server) isAdminSecret(v string) bool {
	if v == "" {
		return false
	}
	h := sha256.Sum256([]byte(v))
	return subtle.ConstantTimeCompare(h[:], s.opts.AdminHash[:]) == 1
}

// secretWords are the path words after which a path carries a token
// (/stream/{token}, /ingest/{token}), compared case-insensitively.
var secretWords = map[string]bool{"stream": true, "ingest": true}

// secretParams are the query parameters whose values are always redacted:
// a name holding one of these words (case-insensitively), such as token,
// access_token or X-Auth.
var secretParams = []string{"token", "secret", "auth", "pass", "key", "sig", "csrf", "session", "cookie"}

// RedactURL returns the URL's path and query for a log line with every
// token replaced by REDACTED. It reads the path as sent, decoded, not as
// routed, so every spelling of a token path is redacted: "//stream/<t>",
// "/./stream/…", "/x/../stream/…", "/STREAM/…", "/%73tream/…",
// "/stream%2F<t>", "/ingest/<t>", "/stream;x/<t>": everything after a
// path word "stream" or "ingest" is cut. Anywhere else, a segment holding
// a word that looks like a token (24 characters or more of letters,
// digits, '-' and '_': issued tokens are 64 hex characters) is replaced.
// In the query, a name that looks like a token is replaced, and so is the
// value of a parameter named like a secret (token, access_token, key, …)
// or holding a word that looks like a token; a query that does not parse
// is replaced whole.
func RedactURL(u *url.URL) string { return redactURL(u, nil) }

func redactURL(u *url.URL, isSecret func(string) bool) string {
	secret := func(v string) bool {
		return hasSecretWord(v) || isSecret != nil && isSecret(v)
	}
	p := u.Path
	if p == "" {
		p = u.Opaque
	}
	if cut := secretCut(p); cut >= 0 {
		p = p[:cut] + Redacted
	}
	segs := strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' })
	if len(segs) > 0 {
		var b strings.Builder
		sep := 0
		prev := ""
		for _, seg := range segs {
			i := strings.Index(p[sep:], seg) + sep
			b.WriteString(p[sep:i])
			if seg != Redacted && (secret(seg) || strings.EqualFold(prev, "tokens") && !isTokenID(seg)) {
				b.WriteString(Redacted)
			} else {
				b.WriteString(seg)
			}
			sep = i + len(seg)
			prev = seg
		}
		b.WriteString(p[sep:])
		p = b.String()
	}
	p = (&url.URL{Path: p}).EscapedPath()
	if u.RawQuery == "" && !u.ForceQuery {
		return p
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return p + "?" + Redacted
	}
	out := url.Values{}
	for k, vs := range q {
		name := k
		if secret(k) {
			name = Redacted
		}
		for _, v := range vs {
			if secretParam(k) || secret(v) {
				v = Redacted
			}
			out[name] = append(out[name], v)
		}
	}
	return p + "?" + out.Encode()
}

// secretCut returns where the secret part of a path begins: just past the
// first path word "stream" or "ingest" and the separator after it, or -1.
// Words are split at anything but letters, digits, '_', '-' and '.', so a
// topic such as "video.stream" is not one.
func secretCut(p string) int {
	inWord := func(c byte) bool { return isWordByte(c) || c == '.' } // "stream.x" is a topic
	for i := 0; i < len(p); {
		if !inWord(p[i]) {
			i++
			continue
		}
		j := i
		for j < len(p) && inWord(p[j]) {
			j++
		}
		if secretWords[strings.ToLower(p[i:j])] {
			if j == len(p) {
				return -1 // nothing after it
			}
			return j + 1
		}
		i = j
	}
	return -1
}

// isTokenID reports whether s is a token's id as the auth package makes
// them, "tok_" and 16 lowercase hex characters. After a path word "tokens"
// (DELETE /api/tokens/{id}) anything else is redacted: it is where an
// operator pastes a token instead of its id, and a secret that does not
// look like a token (an admin token with a typo, a character short) would
// otherwise be logged whole.
func isTokenID(s string) bool {
	h, ok := strings.CutPrefix(s, "tok_")
	if !ok || len(h) != 16 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isWordByte reports whether c may be part of a path word: a topic or a
// token (letters, digits, '_', '-').
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretParams {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// hasSecretWord reports whether s holds a word that could be a token: 24
// characters or more of letters, digits, '-' and '_' (topics are made of
// such words too, but shorter ones: a long topic has dots).
func hasSecretWord(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if isWordByte(s[i]) {
			if n++; n >= 24 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

// canonicalPath reports whether p is routed as it is: net/http's ServeMux
// would otherwise redirect it to its cleaned form (no "//", "/./" or
// "/../"), a redirect whose Location and body repeat the path, and so any
// token in it, to every proxy and cache on the way, and whose target is
// then requested, and logged, again. The hub answers such a path with a
// 404 instead.
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np == p
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
	// Only what the line needs: the request and the response writer
	// would keep net/http's connection (and a TLS stream's tls.Conn)
	// reachable for as long as the stream lives.
	method, path, remote, status, start := r.Method, redactURL(r.URL, s.isAdminSecret), r.RemoteAddr, rec.status, rec.start
	return func() { s.logLine(method, path, remote, status, start) }
}
