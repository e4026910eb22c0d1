package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// escapeAll percent-encodes every byte of s.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// TestAccessLogRedactsEveryPathForm guards defect 7: GET //stream/<token>,
// /./stream/…, /x/../stream/…, /STREAM/… and /ingest/<token> were logged
// raw, and the 404 body echoed the path. Every spelling of a token in a
// path or a query is redacted in the access log, no answer's body or
// Location header repeats it, and none is net/http's redirect to the
// cleaned path: that redirect is a leak (its Location header and HTML
// body carry the token back through every proxy and cache, and the
// client requests it again), so a path that is not canonical gets a JSON
// 404 instead. Checked for an issued token (64 hex characters) and for an
// operator's admin token that looks like no token at all, which the log
// recognises by its hash.
func TestAccessLogRedactsEveryPathForm(t *testing.T) {
	const admin = "Adm1n!Secret~"
	logs := &syncBuffer{}
	th := newMemoryHub(t, func(c *hubtest.Config) {
		c.API.AccessLog = true
		c.API.AdminHash = httpapi.HashToken(admin)
		c.API.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	// An issued token, made with the admin token.
	resp, b := send(t, th.newRequest("POST", "/api/tokens", admin, `{"purpose":"stream"}`, "Content-Type", "application/json"))
	if resp.StatusCode != 201 {
		t.Fatalf("create token: %d %s", resp.StatusCode, b)
	}
	var created struct{ Token string }
	bodyJSON(t, b, &created)
	issued := created.Token

	paths := func(tok string, whole bool) []string {
		esc := url.PathEscape(tok)
		ps := []string{
			"/stream/" + esc, "//stream/" + esc, "/./stream/" + esc, "/x/../stream/" + esc, "/stream/./" + esc,
			"/stream//" + esc, "/STREAM/" + esc, "/Stream/" + esc + "/more", "/ingest/" + esc, "/INGEST/" + esc,
			"/%73tream/" + esc, "/stream%2F" + esc, "/stream;x/" + esc, "/stream/" + escapeAll(tok),
			"/x/%2e%2e/stream/" + esc, "/x/" + esc, "/api/topics/" + esc, "/" + esc + "/stream",
			"/events?topic=a&token=" + url.QueryEscape(tok), "/events?topic=a&TOKEN=" + url.QueryEscape(tok),
			"/events?access_token=" + url.QueryEscape(tok), "/events?x=" + url.QueryEscape(tok),
			"/events?" + url.QueryEscape(tok), "/events?" + url.QueryEscape(tok) + "=1",
			"/events?topic=a;token=" + url.QueryEscape(tok), "/events?token=" + escapeAll(tok),
			"//stream/" + esc + "?token=" + url.QueryEscape(tok),
		}
		if whole { // a token found by its shape, anywhere in a value or segment
			ps = append(ps, "/x/prefix-"+esc, "/events?topic=a,"+url.QueryEscape(tok), "/publish/a."+esc)
		}
		return ps
	}
	requests := 0
	for _, tok := range []struct {
		name, secret string
		hex          bool
	}{{"issued token", issued, true}, {"admin token", admin, false}} {
		for _, p := range paths(tok.secret, tok.hex) {
			c := th.dial()
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p)
			requests++
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Errorf("%s %s: %v", tok.name, p, err)
				continue
			}
			var body []byte
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				body, _ = io.ReadAll(resp.Body)
			}
			c.Close()
			if resp.StatusCode >= 300 && resp.StatusCode < 400 {
				t.Errorf("%s %s: redirected (%d, Location %q)", tok.name, p, resp.StatusCode, resp.Header.Get("Location"))
			}
			for _, leak := range leaks(tok.secret, tok.hex) {
				if strings.Contains(resp.Header.Get("Location"), leak) || strings.Contains(string(body), leak) {
					t.Errorf("%s %s: the answer repeats the token: %d Location %q %.200s", tok.name, p, resp.StatusCode, resp.Header.Get("Location"), body)
					break
				}
			}
			if resp.StatusCode >= 400 {
				wantError(t, tok.name+" "+p, resp, body, resp.StatusCode, "")
			}
		}
	}
	th.api.Shutdown() // streams that opened log when they end
	th.srv.CloseClientConnections()
	th.srv.Close()
	out := logs.String()
	if n := strings.Count(out, "msg=request"); n < requests {
		t.Errorf("%d access log lines for %d requests", n, requests)
	}
	for _, tok := range []struct {
		name, secret string
		hex          bool
	}{{"issued token", issued, true}, {"admin token", admin, false}} {
		for _, leak := range leaks(tok.secret, tok.hex) {
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, leak) {
					t.Errorf("the %s is in the access log: %s", tok.name, line)
				}
			}
		}
	}
	for _, want := range []string{"/stream/REDACTED", "token=REDACTED", "/ingest/REDACTED"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the access log:\n%s", want, out)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("access log:\n%s", out)
	}
}

// leaks are the spellings of a token that must not show: itself, escaped,
// and for an issued token any 16 characters of it.
func leaks(tok string, hex bool) []string {
	out := []string{tok, url.PathEscape(tok), url.QueryEscape(tok), escapeAll(tok)}
	if hex {
		for i := 0; i+16 <= len(tok); i += 16 {
			out = append(out, tok[i:i+16])
		}
	}
	return out
}
