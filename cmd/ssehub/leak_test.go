package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startServeLogs is startServe that also returns what serve logs (its
// stderr).
func startServeLogs(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	code := make(chan int, 1)
	go func() { code <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), &out, &errOut) }()
	t.Cleanup(func() { cancel(); <-code })
	re := regexp.MustCompile(`listening on (https?://\S+)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], &errOut
		}
	}
	t.Fatalf("serve did not start: %s", errOut.String())
	return "", nil
}

// TestTokensNeverLeak is an adversarial pass's hostile client against a whole
// hub as `ssehub serve` runs it, with every feature, the console and
// Mercure on, the access log on and the log at debug level: every token
// (the operator's admin token, which looks like no token, and issued
// ones) goes everywhere a client could put it (the Authorization header,
// ?token=, ?access_token=, ?authorization=, the cookie through POST
// /api/session, /stream/{token}, /ingest/{token}, a topic, a path
// segment), valid, revoked, and mangled (a character too many, upper
// case, one short). No log line, no answer's body or headers (but the one
// that creates a token), and nothing /metrics, /healthz or /readyz
// answers holds a secret; /metrics names no topic, token id or label; and
// every refusal is the JSON error.
func TestTokensNeverLeak(t *testing.T) {
	const admin = "Adm1n~adv3-Secret"
	t.Setenv("ADV3_ADMIN", admin)
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	os.WriteFile(cfg, []byte("storage: {driver: bolt, path: \""+filepath.Join(t.TempDir(), "data")+"\"}\n"+
		"auth: {admin_token: \"${ADV3_ADMIN}\"}\nserver: {access_log: true}\nlog: {level: debug}\nui: {enabled: true}\nmercure: {enabled: true}\n"), 0o600)
	base, logs := startServeLogs(t, "--config", cfg)

	do := func(method, path, body string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			// A stream: what it sends at once is enough.
			b := make([]byte, 4096)
			n, _ := resp.Body.Read(b)
			return resp, b[:n]
		}
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	create := func(body string) (secret, id string) {
		resp, b := do("POST", "/api/tokens", body, "Authorization", "Bearer "+admin, "Content-Type", "application/json")
		var out struct{ Token, ID string }
		if resp.StatusCode != 201 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("create %s: %d %s", body, resp.StatusCode, b)
		}
		return out.Token, out.ID
	}
	stream, streamID := create(`{"purpose":"stream","topics":["orders.*"],"label":"label-adv3-stream"}`)
	pub, pubID := create(`{"purpose":"publish","topics":["orders.*"],"label":"label-adv3-publish"}`)
	scoped, scopedID := create(`{"purpose":"admin","topics":["orders.*"],"label":"label-adv3-admin"}`)
	revoked, revokedID := create(`{"purpose":"stream","label":"label-adv3-revoked"}`)
	if resp, b := do("DELETE", "/api/tokens/"+revokedID, "", "Authorization", "Bearer "+admin); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, b)
	}
	if resp, b := do("POST", "/publish/orders.adv3topicname", `{"n":1}`, "Authorization", "Bearer "+pub); resp.StatusCode != 200 {
		t.Fatalf("publish: %d %s", resp.StatusCode, b)
	}
	secrets := []string{admin, stream, pub, scoped, revoked}
	var mangled []string
	for _, s := range secrets {
		mangled = append(mangled, s+"0", strings.ToUpper(s), s[:len(s)-1])
	}
	all := append(append([]string{}, secrets...), mangled...)

	type answer struct {
		what string
		resp *http.Response
		body []byte
	}
	var answers []answer
	try := func(what, method, path, body string, hdr ...string) {
		resp, b := do(method, path, body, hdr...)
		answers = append(answers, answer{what, resp, b})
	}
	for _, s := range all {
		q := url.QueryEscape(s)
		p := url.PathEscape(s)
		try("bearer", "GET", "/events?topic=orders.*", "", "Authorization", "Bearer "+s)
		try("bearer, wider topic", "GET", "/events?topic=*", "", "Authorization", "Bearer "+s)
		try("?token=", "GET", "/events?topic=users.*&token="+q, "")
		try("?access_token=", "GET", "/events?topic=orders.x&access_token="+q, "")
		try("?authorization=", "GET", "/.well-known/mercure?topic=x&authorization="+q, "")
		try("mercure bearer", "GET", "/.well-known/mercure?topic=x", "", "Authorization", "Bearer "+s)
		try("/stream/", "GET", "/stream/"+p, "")
		try("/ingest/", "POST", "/ingest/"+p, `{"topic":"users.x","data":1}`, "Content-Type", "application/json")
		try("path segment", "GET", "/api/tokens/"+p, "", "Authorization", "Bearer "+s)
		try("revoke by secret", "DELETE", "/api/tokens/"+p, "", "Authorization", "Bearer "+admin)
		try("publish", "POST", "/publish/users.x", `1`, "Authorization", "Bearer "+s)
		try("tokens", "POST", "/api/tokens", `{"purpose":"admin"}`, "Authorization", "Bearer "+s, "Content-Type", "application/json")
		try("console session", "GET", "/ui/api/session", "", "Authorization", "Bearer "+s)
		try("console connections", "GET", "/ui/api/connections", "", "Authorization", "Bearer "+s)
		try("durable", "GET", "/v1/stream/orders.x?offset=-1", "", "Authorization", "Bearer "+s)
		b, _ := json.Marshal(map[string]string{"token": s})
		resp, rb := do("POST", "/api/session", string(b), "Content-Type", "application/json")
		answers = append(answers, answer{"sign-in", resp, rb})
		for _, c := range resp.Cookies() {
			if c.Value != "" {
				try("cookie", "GET", "/events?topic=orders.*", "", "Cookie", c.Name+"="+c.Value)
				try("cookie change without CSRF", "POST", "/api/tokens", `{"purpose":"admin"}`, "Cookie", c.Name+"="+c.Value, "Content-Type", "application/json")
			}
		}
	}
	try("metrics", "GET", "/metrics", "")
	try("healthz", "GET", "/healthz", "")
	try("readyz", "GET", "/readyz", "")

	for _, a := range answers {
		var hdr strings.Builder
		h := a.resp.Header.Clone()
		h.Del("Set-Cookie") // the cookie is the token, set on purpose
		h.Write(&hdr)
		for _, s := range all {
			if strings.Contains(string(a.body), s) || strings.Contains(hdr.String(), s) || strings.Contains(hdr.String(), url.QueryEscape(s)) {
				t.Errorf("%s: %d: the answer holds a secret: %s %.300s", a.what, a.resp.StatusCode, hdr.String(), a.body)
				break
			}
		}
		if a.resp.StatusCode >= 400 && a.resp.Request.URL.Path != "/.well-known/mercure" {
			var e struct {
				Error struct{ Code, Message string }
			}
			if !strings.HasPrefix(a.resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(a.body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Errorf("%s %s: %d is not the JSON error: %q %.300s", a.what, a.resp.Request.URL.Path, a.resp.StatusCode, a.resp.Header.Get("Content-Type"), a.body)
			}
		}
	}
	metrics := string(answers[len(answers)-3].body)
	for _, name := range []string{"adv3topicname", "orders", "label-adv3", streamID, pubID, scopedID, revokedID} {
		if strings.Contains(metrics, name) {
			t.Errorf("/metrics names %q", name)
		}
	}
	time.Sleep(100 * time.Millisecond) // the last access log lines
	l := logs.String()
	if !strings.Contains(l, "msg=request") {
		t.Fatalf("the hub logged nothing to check:\n%.2000s", l)
	}
	for _, s := range all {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			if strings.Contains(l, form) {
				i := strings.Index(l, form)
				t.Errorf("the log holds a secret %q: …%s…", s, l[max(0, i-300):min(len(l), i+100)])
				break
			}
		}
	}
}
