package ui_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/ui"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// wantConsoleHeaders checks the headers every response under /ui/ carries.
func wantConsoleHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, v := range map[string]string{
		"Content-Security-Policy": ui.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	if v := h.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("%s: Access-Control-Allow-Origin %q: the console is same-origin only", what, v)
	}
}

func TestCSP(t *testing.T) {
	csp := ui.ContentSecurityPolicy
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"frame-ancestors 'none'", "base-uri 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") || strings.Contains(csp, "data:") {
		t.Errorf("CSP %q allows unsafe sources", csp)
	}
}

func TestStaticFiles(t *testing.T) {
	e := newEnv(t, ui.Options{Enabled: true})
	// The server allows any origin by default (cors_origins ["*"]); the
	// console still answers no other origin.
	r := e.do("GET", "/ui/", "", "", "Origin", "https://elsewhere.example")
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(string(r.Body), `<script type="module" src="app.js">`) {
		t.Fatalf("GET /ui/: %d %q %.200s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	wantConsoleHeaders(t, "GET /ui/", r.Header)
	if r.Header.Get("Cache-Control") != "no-cache" || r.Header.Get("ETag") == "" {
		t.Errorf("GET /ui/: Cache-Control %q, ETag %q: want revalidation with an ETag", r.Header.Get("Cache-Control"), r.Header.Get("ETag"))
	}
	if r2 := e.do("GET", "/ui/", "", "", "If-None-Match", r.Header.Get("ETag")); r2.Status != 304 || len(r2.Body) != 0 {
		t.Errorf("If-None-Match: %d, %d bytes, want 304", r2.Status, len(r2.Body))
	}
	for path, ctype := range map[string]string{
		"/ui/index.html": "text/html; charset=utf-8", "/ui/app.js": "text/javascript; charset=utf-8",
		"/ui/style.css": "text/css; charset=utf-8", "/ui/favicon.svg": "image/svg+xml",
		"/ui/js/pages/tail.js": "text/javascript; charset=utf-8", "/ui/theme.js": "text/javascript; charset=utf-8",
	} {
		r := e.do("GET", path, "", "")
		if r.Status != 200 || r.Header.Get("Content-Type") != ctype || len(r.Body) == 0 {
			t.Errorf("GET %s: %d %q, want 200 %q", path, r.Status, r.Header.Get("Content-Type"), ctype)
		}
		wantConsoleHeaders(t, path, r.Header)
	}
	for _, path := range []string{"/ui/nope.js", "/ui/js/", "/ui/static/app.js", "/ui/" + admin} {
		r := e.do("GET", path, "", "")
		wantError(t, "GET "+path, r, 404, httpapi.CodeNotFound)
		if strings.Contains(string(r.Body), admin) {
			t.Errorf("GET %s: the error echoes the path: %s", path, r.Body)
		}
		wantConsoleHeaders(t, path, r.Header)
	}
	wantError(t, "GET /ui/../ui/", e.do("GET", "/ui/js/../app.js", "", ""), 404, httpapi.CodeNotFound)
	wantError(t, "POST /ui/", e.do("POST", "/ui/", "", "x"), 405, httpapi.CodeMethod)
	wantError(t, "DELETE /ui/api/stats", e.do("DELETE", "/ui/api/stats", admin, ""), 405, httpapi.CodeMethod)
	if r := e.do("HEAD", "/ui/app.js", "", ""); r.Status != 200 || len(r.Body) != 0 {
		t.Errorf("HEAD /ui/app.js: %d with %d bytes", r.Status, len(r.Body))
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(e.url + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d Location %q, want 301 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestStaticSources checks the console's sources for what the CSP would
// refuse (inline scripts, styles and handlers) and for DOM sinks Trusted
// Types would refuse, so that a change that needs them fails here first.
func TestStaticSources(t *testing.T) {
	inline := []*regexp.Regexp{
		regexp.MustCompile(`<script[^>]*>[^<]+</script>`),        // a script with a body
		regexp.MustCompile(`<script>`),                           // a script without src
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),                 // onclick="…"
		regexp.MustCompile(`(?i)\sstyle\s*=`),                    // style="…"
		regexp.MustCompile(`(?i)<style[\s>]`),                    // <style>
		regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`), // another origin
	}
	sinks := regexp.MustCompile(`\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|\beval\(|new Function\(|setTimeout\(['"]|setAttribute\(['"](style|on[a-z]+)['"]|import\(`)
	var files int
	err := filepath.WalkDir("static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		src := string(b)
		switch filepath.Ext(p) {
		case ".html":
			for _, re := range inline {
				if m := re.FindString(src); m != "" {
					t.Errorf("%s: %q is refused by the console's CSP", p, m)
				}
			}
		case ".js":
			for _, line := range strings.Split(src, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "//") {
					continue
				}
				if m := sinks.FindString(line); m != "" {
					t.Errorf("%s: %q: the console builds DOM from nodes (Trusted Types, no inline styles): %s", p, m, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil || files < 10 {
		t.Fatalf("walk static: %d files, %v", files, err)
	}
}

func TestDisabled(t *testing.T) {
	e := newEnv(t, ui.Options{Enabled: false})
	for _, path := range []string{"/ui", "/ui/", "/ui/app.js", "/ui/api/stats", "/ui/api/connections"} {
		r := e.do("GET", path, admin, "")
		wantError(t, "GET "+path, r, 404, httpapi.CodeNotFound)
		if !strings.Contains(string(r.Body), "ui.enabled") {
			t.Errorf("GET %s: %s: want a message naming ui.enabled", path, r.Body)
		}
	}
	// The API still works, with its own session endpoint.
	if r := e.do("GET", "/api/session", admin, ""); r.Status != 200 {
		t.Errorf("GET /api/session: %d %s", r.Status, r.Body)
	}
}

// signIn posts a token to /api/session and returns its cookie and CSRF value.
func (e *env) signIn(token string) (*http.Cookie, string) {
	e.t.Helper()
	r := e.do("POST", "/api/session", "", `{"token":"`+token+`"}`, "Content-Type", "application/json")
	if r.Status != 200 {
		e.t.Fatalf("sign in: %d %s", r.Status, r.Body)
	}
	var out struct{ CSRF string }
	r.JSON(e.t, &out)
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == httpapi.TokenCookie {
			return c, out.CSRF
		}
	}
	e.t.Fatal("sign in set no cookie")
	return nil, ""
}

func TestSession(t *testing.T) {
	e := newEnv(t, ui.Options{Enabled: true})
	wantError(t, "no token", e.do("GET", "/ui/api/session", "", ""), 401, httpapi.CodeUnauthorized)
	secret, id := e.token(auth.PurposeStream, time.Hour, "dash", "orders.*")
	cookie, csrf := e.signIn(secret)
	r := e.do("GET", "/ui/api/session", "", "", "Cookie", cookie.Name+"="+cookie.Value, "Sec-Fetch-Site", "same-origin")
	var who struct {
		ID, Purpose, Label, CSRF string
		Topics                   []string
		ExpiresAt                time.Time `json:"expires_at"`
	}
	r.JSON(t, &who)
	if r.Status != 200 || who.ID != id || who.Purpose != "stream" || who.Label != "dash" || who.CSRF != csrf || csrf == "" ||
		len(who.Topics) != 1 || who.Topics[0] != "orders.*" || who.ExpiresAt.IsZero() {
		t.Errorf("cookie session: %d %+v, want the token's and csrf %q", r.Status, who, csrf)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}
	wantConsoleHeaders(t, "session", r.Header)
	// A bearer token needs no CSRF value, and gets none.
	r = e.do("GET", "/ui/api/session", secret, "")
	if r.Status != 200 || strings.Contains(string(r.Body), "csrf") {
		t.Errorf("bearer session: %d %s, want no csrf", r.Status, r.Body)
	}
	// Another site, or another origin of the site, may not read it.
	for _, site := range []string{"cross-site", "same-site"} {
		wantError(t, site, e.do("GET", "/ui/api/session", "", "", "Cookie", cookie.Name+"="+cookie.Value, "Sec-Fetch-Site", site), 403, httpapi.CodeCSRF)
	}
	if r := e.do("GET", "/ui/api/session", admin, ""); !strings.Contains(string(r.Body), `"admin":true`) {
		t.Errorf("admin session: %s", r.Body)
	}
}

// statsEvent is the data of a stats event.
type statsEvent struct {
	Published   uint64  `json:"published"`
	Deliveries  uint64  `json:"deliveries"`
	Subscribers int64   `json:"subscribers"`
	Streams     int     `json:"streams"`
	Head        string  `json:"head"`
	Ready       bool    `json:"ready"`
	Store       string  `json:"store"`
	Uptime      float64 `json:"uptime_seconds"`
	Retained    *struct{ Events int64 }
	TopicRates  map[string]float64 `json:"topic_rates"`
}

func (s *stream) stats(t *testing.T) statsEvent {
	t.Helper()
	ev := s.event(t, "stats", 10*time.Second)
	var st statsEvent
	if err := json.Unmarshal(ev.Data, &st); err != nil {
		t.Fatalf("stats data %q: %v", ev.Data, err)
	}
	return st
}

func TestStats(t *testing.T) {
	e := newEnv(t, ui.Options{Enabled: true, StoreName: "bolt (test)", StatsInterval: 200 * time.Millisecond})
	wantError(t, "no token", e.do("GET", "/ui/api/stats", "", ""), 401, httpapi.CodeUnauthorized)

	// A stream token scoped to orders.* sees the hub's counters and the
	// rates of its own topics only.
	secret, _ := e.token(auth.PurposeStream, 0, "", "orders.*")
	s := e.openStream("/ui/api/stats", secret)
	if ct := s.resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	wantConsoleHeaders(t, "stats", s.resp.Header)
	first := s.stats(t)
	if !first.Ready || first.Store != "bolt (test)" || first.Streams != 1 || first.Retained == nil {
		t.Errorf("first sample: %+v", first)
	}
	deadline := time.Now().Add(10 * time.Second)
	var st statsEvent
	for {
		for range 5 {
			e.publish("orders.created", `{"n":1}`)
			e.publish("secret.plans", `{"n":2}`)
		}
		// A sample may have been taken while the publishes above were
		// still in flight: wait for one that counts them all.
		st = s.stats(t)
		if st.TopicRates["orders.created"] > 0 && st.Published >= first.Published+10 || time.Now().After(deadline) {
			break
		}
	}
	if st.Published < first.Published+10 || st.Head == first.Head {
		t.Errorf("counters did not move: %+v then %+v", first, st)
	}
	if st.TopicRates["orders.created"] <= 0 {
		t.Errorf("no rate for orders.created: %v", st.TopicRates)
	}
	if _, ok := st.TopicRates["secret.plans"]; ok {
		t.Errorf("a token scoped to orders.* sees the rate of secret.plans: %v", st.TopicRates)
	}
	a := e.openStream("/ui/api/stats", admin)
	for i := 0; ; i++ {
		e.publish("secret.plans", `{}`)
		if st := a.stats(t); st.TopicRates["secret.plans"] > 0 {
			break
		} else if i > 40 {
			t.Fatalf("the admin token sees no rate of secret.plans: %v", st.TopicRates)
		}
	}
}

func TestStatsEndsWithItsToken(t *testing.T) {
	e := newEnv(t, ui.Options{Enabled: true, StatsInterval: 100 * time.Millisecond})
	secret, id := e.token(auth.PurposeStream, 0, "", "*")
	s := e.openStream("/ui/api/stats", secret)
	s.stats(t)
	if r := e.do("DELETE", "/api/tokens/"+id, admin, ""); r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	last := s.ended(t, 10*time.Second)
	if last.Type != "error" || !strings.Contains(string(last.Data), `"code":"UNAUTHORIZED"`) || !strings.Contains(string(last.Data), "revoked") {
		t.Errorf("after a revocation the feed ended with %q %q, want an UNAUTHORIZED error event", last.Type, last.Data)
	}

	secret, _ = e.token(auth.PurposeStream, 1500*time.Millisecond, "", "*")
	s = e.openStream("/ui/api/stats", secret)
	start := time.Now()
	last = s.ended(t, 10*time.Second)
	if last.Type != "error" || !strings.Contains(string(last.Data), "expired") || time.Since(start) > 5*time.Second {
		t.Errorf("at its expiry the feed ended with %q %q after %v, want an UNAUTHORIZED error event", last.Type, last.Data, time.Since(start))
	}
	wantError(t, "expired token", e.do("GET", "/ui/api/stats", secret, ""), 401, httpapi.CodeUnauthorized)
}

func TestStatsCountAgainstStreamLimits(t *testing.T) {
	e := newEnv(t, ui.Options{Enabled: true}, func(c *hubtest.Config) { c.API.Limits.StreamsPerToken = 1 })
	secret, _ := e.token(auth.PurposeStream, 0, "", "*")
	e.openStream("/ui/api/stats", secret).stats(t)
	wantError(t, "second feed", e.do("GET", "/ui/api/stats", secret, ""), 429, httpapi.CodeRateLimited)
}
