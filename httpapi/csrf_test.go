package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// signIn trades secret for the token cookie through POST /api/session and
// returns the cookie and the CSRF value.
func signIn(t *testing.T, client *http.Client, base, secret string) (*http.Cookie, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/session", strings.NewReader(`{"token":"`+secret+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, b := sendWith(t, client, req)
	if resp.StatusCode != 200 {
		t.Fatalf("sign in: %d %s", resp.StatusCode, b)
	}
	var out struct{ CSRF string }
	bodyJSON(t, b, &out)
	var c *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == httpapi.TokenCookie {
			c = ck
		}
	}
	if c == nil || out.CSRF == "" {
		t.Fatalf("sign in: no cookie or no csrf: %v %s", resp.Header, b)
	}
	return c, out.CSRF
}

func sendWith(t testing.TB, client *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	var b []byte
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b = readAll(resp)
	}
	return resp, b
}

// TestCookieChangesNeedCSRFProof guards defect 12: with the token cookie
// set, a POST /api/tokens from another origin without any custom header
// created a token. A state-changing request authenticated by the cookie
// needs the X-CSRF-Token value POST /api/session returned, and, when the
// browser says where it comes from, the hub's own origin (or one listed
// in cors_origins); Bearer and ?token= requests are not ambient and are
// unaffected; GET streams with the cookie (EventSource withCredentials)
// keep working.
func TestCookieChangesNeedCSRFProof(t *testing.T) {
	const listed = "https://console.example"
	th := newMemoryHub(t, func(c *hubtest.Config) { c.API.CORSOrigins = []string{listed} })
	cookie, csrf := signIn(t, http.DefaultClient, th.srv.URL, adminToken)
	self := th.srv.URL // the hub's own origin
	before := len(th.listTokens())
	created := 0

	try := func(what string, status int, code string, hdr ...string) {
		t.Helper()
		req := th.newRequest("POST", "/api/tokens", "", `{"purpose":"stream"}`, append([]string{"Content-Type", "application/json"}, hdr...)...)
		req.AddCookie(cookie)
		resp, b := send(t, req)
		if status >= 400 {
			wantError(t, what, resp, b, status, code)
		} else if resp.StatusCode != status {
			t.Errorf("%s: %d %s, want %d", what, resp.StatusCode, b, status)
		} else {
			created++
		}
	}
	try("cookie, no CSRF header", 403, httpapi.CodeCSRF)
	try("cookie, no CSRF header, foreign Origin", 403, httpapi.CodeCSRF, "Origin", "https://evil.example")
	try("cookie, wrong CSRF header", 403, httpapi.CodeCSRF, httpapi.CSRFHeader, strings.Repeat("0", len(csrf)))
	try("cookie, empty CSRF header", 403, httpapi.CodeCSRF, httpapi.CSRFHeader, "")
	try("cookie, right CSRF from another Origin", 403, httpapi.CodeCSRF, httpapi.CSRFHeader, csrf, "Origin", "https://evil.example")
	try("cookie, right CSRF from Origin null", 403, httpapi.CodeCSRF, httpapi.CSRFHeader, csrf, "Origin", "null")
	try("cookie, right CSRF, Sec-Fetch-Site cross-site", 403, httpapi.CodeCSRF, httpapi.CSRFHeader, csrf, "Sec-Fetch-Site", "cross-site")
	try("cookie, right CSRF, Sec-Fetch-Site same-site", 403, httpapi.CodeCSRF, httpapi.CSRFHeader, csrf, "Sec-Fetch-Site", "same-site")
	try("cookie, CSRF of another token", 403, httpapi.CodeCSRF, httpapi.CSRFHeader, httpapi.CSRFToken(strings.Repeat("ab", 32)))
	if n := len(th.listTokens()); n != before {
		t.Fatalf("refused requests created %d tokens", n-before)
	}
	try("cookie, right CSRF, same Origin", 201, "", httpapi.CSRFHeader, csrf, "Origin", self, "Sec-Fetch-Site", "same-origin")
	try("cookie, right CSRF, listed Origin", 201, "", httpapi.CSRFHeader, csrf, "Origin", listed)
	try("cookie, right CSRF, no Origin (not a browser)", 201, "", httpapi.CSRFHeader, csrf)

	// Every state-changing route checks it.
	for _, r := range []struct{ method, path, ctype, body string }{
		{"POST", "/publish/a.b", "", "x"},
		{"POST", "/publish", "application/json", `{"topic":"a.b","data":1}`},
		{"DELETE", "/api/topics/a.b", "", ""},
		{"DELETE", "/api/tokens/tok_0000000000000000", "", ""},
		{"POST", "/api/tokens", "application/json", `{"purpose":"stream"}`},
	} {
		req := th.newRequest(r.method, r.path, "", r.body, "Content-Type", r.ctype, "Origin", "https://evil.example")
		req.AddCookie(cookie)
		resp, b := send(t, req)
		wantError(t, r.method+" "+r.path+" with the cookie from another origin", resp, b, 403, httpapi.CodeCSRF)
	}
	if th.hub.Gone("a.b") {
		t.Error("a cross-origin cookie request deregistered a topic")
	}

	// Bearer and ?token= are not sent by a browser on its own: unaffected.
	req := th.newRequest("POST", "/api/tokens", adminToken, `{"purpose":"stream"}`, "Content-Type", "application/json", "Origin", "https://evil.example")
	if resp, b := send(t, req); resp.StatusCode != 201 {
		t.Errorf("Bearer from another origin: %d %s", resp.StatusCode, b)
	} else {
		created++
	}
	req = th.newRequest("POST", "/api/tokens?token="+adminToken, "", `{"purpose":"stream"}`, "Content-Type", "application/json")
	if resp, b := send(t, req); resp.StatusCode != 201 {
		t.Errorf("?token=: %d %s", resp.StatusCode, b)
	} else {
		created++
	}
	if n := len(th.listTokens()); n != before+created {
		t.Errorf("%d tokens created, want %d", n-before, created)
	}

	// GET with the cookie: streams (EventSource withCredentials from a
	// listed origin) and who-am-I, no CSRF header needed.
	req = th.newRequest("GET", "/events?topic=c", "", "", "Origin", listed)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != listed || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("a stream with the cookie from a listed origin: %d %v", resp.StatusCode, resp.Header)
	}
	req = th.newRequest("GET", "/api/session", "", "")
	req.AddCookie(cookie)
	if resp, b := send(t, req); resp.StatusCode != 200 || !strings.Contains(string(b), `"admin":true`) {
		t.Errorf("GET /api/session with the cookie: %d %s", resp.StatusCode, b)
	}
}

// TestSessionSignIn guards defect 12's sign-in: POST /api/session takes
// JSON only (a form or text/plain body could be sent cross-site without a
// preflight) and refuses foreign origins; the cookie it sets is HttpOnly,
// SameSite=Strict, Path=/, Secure over TLS, and expires with the token;
// DELETE /api/session clears it.
func TestSessionSignIn(t *testing.T) {
	th := newMemoryHub(t)
	body := `{"token":"` + adminToken + `"}`
	for _, c := range []struct {
		what   string
		status int
		code   string
		hdr    []string
	}{
		{"no Content-Type", 415, httpapi.CodeMediaType, nil},
		{"text/plain", 415, httpapi.CodeMediaType, []string{"Content-Type", "text/plain"}},
		{"a form", 415, httpapi.CodeMediaType, []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"multipart", 415, httpapi.CodeMediaType, []string{"Content-Type", "multipart/form-data; boundary=x"}},
		{"foreign Origin", 403, httpapi.CodeCSRF, []string{"Content-Type", "application/json", "Origin", "https://evil.example"}},
		{"Origin null", 403, httpapi.CodeCSRF, []string{"Content-Type", "application/json", "Origin", "null"}},
		{"Sec-Fetch-Site cross-site", 403, httpapi.CodeCSRF, []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}},
	} {
		resp, b := send(t, th.newRequest("POST", "/api/session", "", body, c.hdr...))
		wantError(t, "sign in with "+c.what, resp, b, c.status, c.code)
		if len(resp.Cookies()) > 0 {
			t.Errorf("sign in with %s set a cookie", c.what)
		}
	}
	for _, c := range []struct{ what, body string }{
		{"an unknown token", `{"token":"` + strings.Repeat("ab", 32) + `"}`},
		{"a malformed token", `{"token":"x"}`},
		{"no token", `{}`},
	} {
		resp, b := send(t, th.newRequest("POST", "/api/session", "", c.body, "Content-Type", "application/json"))
		if resp.StatusCode < 400 || len(resp.Cookies()) > 0 {
			t.Errorf("sign in with %s: %d %v", c.what, resp.StatusCode, resp.Cookies())
		}
		wantError(t, "sign in with "+c.what, resp, b, resp.StatusCode, "")
	}

	// An operator's admin token that a cookie cannot carry as it is.
	odd := newMemoryHub(t, func(c *hubtest.Config) { c.API.AdminHash = httpapi.HashToken(`adm;in"x`) })
	resp, b := send(t, odd.newRequest("POST", "/api/session", "", `{"token":"adm;in\"x"}`, "Content-Type", "application/json"))
	wantError(t, "sign in with a token a cookie cannot carry", resp, b, 400, httpapi.CodeBadToken)

	check := func(what string, c *http.Cookie, secure bool, expires time.Time) {
		t.Helper()
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != secure {
			t.Errorf("%s: cookie %s: want HttpOnly, SameSite=Strict, Path=/, Secure=%v", what, c.String(), secure)
		}
		switch {
		case expires.IsZero() && (!c.Expires.IsZero() || c.MaxAge != 0):
			t.Errorf("%s: a token that never expires gets a cookie that does: %s", what, c.String())
		case !expires.IsZero() && (c.Expires.Sub(expires) > time.Second || expires.Sub(c.Expires) > time.Second):
			t.Errorf("%s: cookie expires %v, the token %v", what, c.Expires, expires)
		}
	}
	c, _ := signIn(t, http.DefaultClient, th.srv.URL, adminToken)
	check("admin token over HTTP", c, false, time.Time{})
	tok, _ := th.createToken(`{"purpose":"stream","ttl":"2h"}`)
	var exp time.Time
	for _, ti := range th.listTokens() {
		if !ti.ExpiresAt.IsZero() {
			exp = ti.ExpiresAt
		}
	}
	c, _ = signIn(t, http.DefaultClient, th.srv.URL, tok)
	check("a 2h token over HTTP", c, false, exp)

	// Over TLS the cookie is Secure.
	ts := httptest.NewUnstartedServer(th.api)
	ts.StartTLS()
	defer ts.Close()
	c, _ = signIn(t, ts.Client(), ts.URL, tok)
	check("a 2h token over TLS", c, true, exp)

	// Sign out clears it.
	resp, _ = send(t, th.newRequest("DELETE", "/api/session", "", ""))
	var cleared *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == httpapi.TokenCookie {
			cleared = ck
		}
	}
	if resp.StatusCode != 204 || cleared == nil || cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Errorf("sign out: %d %v", resp.StatusCode, resp.Cookies())
	}
	resp, b = send(t, th.newRequest("DELETE", "/api/session", "", "", "Origin", "https://evil.example"))
	wantError(t, "sign out from another origin", resp, b, 403, httpapi.CodeCSRF)
}
