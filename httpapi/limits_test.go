package httpapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/internal/hubtest"
)

func withLimits(l httpapi.Limits) hubOption {
	return func(c *hubtest.Config) { c.API.Limits = l }
}

func TestPublishRateLimit(t *testing.T) {
	th := newMemoryHub(t, withLimits(httpapi.Limits{PublishRate: 1, PublishBurst: 3}))
	pub, _ := th.createToken(`{"purpose":"publish"}`)
	var codes []int
	var retryAfter string
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("POST", th.srv.URL+"/publish/r.t", strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+pub)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	if codes[0] != 200 || codes[2] != 200 || codes[3] != 429 || codes[4] != 429 || retryAfter == "" {
		t.Fatalf("codes %v Retry-After %q", codes, retryAfter)
	}
	// The admin is the operator: not rate limited.
	for i := 0; i < 5; i++ {
		th.publish("r.t", "admin")
	}
	// A batch larger than the burst can never pass, so waiting would not
	// help: 413, which tells the client to split it (a 429 must say when
	// to retry).
	req, _ := http.NewRequest("POST", th.srv.URL+"/publish", strings.NewReader(strings.Repeat(`{"topic":"r.t","data":1}`+"\n", 4)))
	req.Header.Set("Authorization", "Bearer "+pub)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(b), "burst") {
		t.Fatalf("a batch past the burst: %d %s", resp.StatusCode, b)
	}
}

func TestStreamLimits(t *testing.T) {
	th := newMemoryHub(t, withLimits(httpapi.Limits{StreamsPerToken: 2, MaxStreams: 3, MaxTopics: 2}))
	tok, _ := th.createToken(`{"purpose":"stream"}`)
	open := func(token, query string) *http.Response {
		resp, err := http.Get(th.srv.URL + "/events?" + query + "&token=" + url.QueryEscape(token))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for i := 0; i < 2; i++ {
		if r := open(tok, "topic=a"); r.StatusCode != 200 {
			t.Fatalf("stream %d: %d", i, r.StatusCode)
		}
	}
	if r := open(tok, "topic=a"); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream of the token: %d", r.StatusCode)
	}
	if r := open(adminToken, "topic=a"); r.StatusCode != 200 {
		t.Fatalf("admin stream: %d", r.StatusCode)
	}
	if r := open(adminToken, "topic=a"); r.StatusCode != 503 {
		t.Fatalf("past max connections: %d", r.StatusCode)
	}
	if r := open(adminToken, "topic=a&topic=b&topic=c"); r.StatusCode != 400 {
		t.Fatalf("too many topics: %d", r.StatusCode)
	}
}

func TestCORSPreflightAndCredentials(t *testing.T) {
	th := newMemoryHub(t, func(c *hubtest.Config) { c.API.CORSOrigins = []string{"https://app.example"} })
	req, _ := http.NewRequest("OPTIONS", th.srv.URL+"/publish/a", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, h)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin: %d", resp.StatusCode)
	}
	// "*" never comes with credentials.
	th2 := newMemoryHub(t, func(c *hubtest.Config) { c.API.CORSOrigins = []string{"*"} })
	req, _ = http.NewRequest("GET", th2.srv.URL+"/healthz", nil)
	req.Header.Set("Origin", "https://any.example")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("wildcard: %v", resp.Header)
	}
}

func TestAccessLogRedactsTokens(t *testing.T) {
	var logs bytes.Buffer
	th := newMemoryHub(t, func(c *hubtest.Config) {
		o := &c.API
		o.AccessLog = true
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	resp, err := http.Get(th.srv.URL + "/events?topic=zz&token=" + adminToken + "&x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.Get(th.srv.URL + "/stream/" + adminToken)
	th.publish("logged.topic", "x") // Authorization header: never logged
	th.api.Shutdown()
	th.srv.CloseClientConnections()
	th.srv.Close()
	out := logs.String()
	if strings.Contains(out, adminToken) || strings.Contains(out, adminToken[:16]) {
		t.Fatalf("token in logs:\n%s", out)
	}
	if !strings.Contains(out, "token=REDACTED") || !strings.Contains(out, "/stream/REDACTED") {
		t.Fatalf("expected redacted entries:\n%s", out)
	}
}

func TestTopicLengthLimit(t *testing.T) {
	th := newMemoryHub(t, withLimits(httpapi.Limits{MaxTopicLen: 5}))
	if resp, b := th.do("POST", "/publish/abcdef", "", "x"); resp.StatusCode != 400 || !strings.Contains(string(b), "limit of 5") {
		t.Fatalf("long topic: %d %s", resp.StatusCode, b)
	}
	if resp, _ := th.do("GET", "/events?topic=abcdef.*", "", ""); resp.StatusCode != 400 {
		t.Fatalf("long pattern: %d", resp.StatusCode)
	}
	th.publish("abcde", "ok")
}
