package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRevokeEndsEveryKindOfStream: a token's revocation ends whatever it
// holds open, on every streaming surface a whole `ssehub serve` has:
// /events (by header, ?token= and the cookie), /stream/{token}, the
// console's statistics feed, a Mercure subscription and a Durable Streams
// live=sse and live=long-poll read; and none of them can be opened again
// with it. The same for its expiry.
func TestRevokeEndsEveryKindOfStream(t *testing.T) {
	const admin = "adv3-revoke-admin"
	t.Setenv("ADV3_ADMIN", admin)
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	os.WriteFile(cfg, []byte("storage: {driver: bolt, path: \""+filepath.Join(t.TempDir(), "data")+"\"}\n"+
		"auth: {admin_token: \"${ADV3_ADMIN}\"}\nui: {enabled: true}\nmercure: {enabled: true}\n"), 0o600)
	base, _ := startServeLogs(t, "--config", cfg)
	req := func(method, path, token, body string, hdr ...string) *http.Request {
		r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
	do := func(t *testing.T, r *http.Request) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for _, c := range []struct{ name, ttl string }{{"revoked", ""}, {"expired", `,"ttl":"1500ms"`}} {
		t.Run(c.name, func(t *testing.T) { endsWithToken(t, req, do, admin, c.name, c.ttl) })
	}
}

// endsWithToken opens every kind of stream with a new admin token, then
// revokes it (ttl "") or lets it expire, and checks that they all end.
func endsWithToken(t *testing.T, req func(method, path, token, body string, hdr ...string) *http.Request,
	do0 func(*testing.T, *http.Request) (*http.Response, []byte), admin, name, ttl string) {
	do := func(r *http.Request) (*http.Response, []byte) { t.Helper(); return do0(t, r) }
	resp, b := do(req("POST", "/api/tokens", admin, `{"purpose":"admin"`+ttl+`}`, "Content-Type", "application/json"))
	var tok struct {
		Token, ID string
		ExpiresAt time.Time `json:"expires_at"`
	}
	if resp.StatusCode != 201 || json.Unmarshal(b, &tok) != nil {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(req("PUT", "/v1/stream/rv"+name, admin, "", "Content-Type", "text/plain")); resp.StatusCode/100 != 2 {
		t.Fatalf("durable create: %d %s", resp.StatusCode, b)
	}
	resp, b = do(req("POST", "/api/session", "", `{"token":"`+tok.Token+`"}`, "Content-Type", "application/json"))
	if resp.StatusCode != 200 || len(resp.Cookies()) == 0 {
		t.Fatalf("sign in: %d %s", resp.StatusCode, b)
	}
	cookie := resp.Cookies()[0]
	streams := map[string]*http.Request{
		"/events bearer":  req("GET", "/events?topic=*", tok.Token, ""),
		"/events ?token=": req("GET", "/events?topic=*&token="+tok.Token, "", ""),
		"/events cookie":  req("GET", "/events?topic=*", "", "", "Cookie", cookie.Name+"="+cookie.Value),
		"/stream/{token}": req("GET", "/stream/"+tok.Token, "", ""),
		"console stats":   req("GET", "/ui/api/stats", "", "", "Cookie", cookie.Name+"="+cookie.Value),
		"mercure":         req("GET", "/.well-known/mercure?topic=https://example.com/x", tok.Token, ""),
		"durable sse":     req("GET", "/v1/stream/rv"+name+"?offset=now&live=sse", tok.Token, ""),
	}
	type ended struct {
		name string
		at   time.Time
		err  error
	}
	done := make(chan ended, len(streams))
	opened := make(chan string, len(streams))
	for name, r := range streams {
		go func() {
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				opened <- name + ": " + err.Error()
				done <- ended{name, time.Now(), err}
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				opened <- name + ": " + resp.Status + " " + string(b)
				done <- ended{name, time.Now(), nil}
				return
			}
			opened <- ""
			_, err = io.Copy(io.Discard, resp.Body)
			done <- ended{name, time.Now(), err}
		}()
	}
	for range streams {
		if e := <-opened; e != "" {
			t.Errorf("open %s", e)
		}
	}
	// A long-poll answers only when it ends: it must end at the revocation.
	longPoll := make(chan ended, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req("GET", "/v1/stream/rv"+name+"?offset=now&live=long-poll", tok.Token, ""))
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("%s", resp.Status)
		}
		longPoll <- ended{"durable long-poll", time.Now(), err}
	}()
	time.Sleep(200 * time.Millisecond) // every stream subscribed
	revoked := time.Now()
	if ttl == "" {
		if resp, b := do(req("DELETE", "/api/tokens/"+tok.ID, admin, "")); resp.StatusCode != 200 {
			t.Fatalf("revoke: %d %s", resp.StatusCode, b)
		}
	} else {
		revoked = tok.ExpiresAt
	}
	timeout := time.After(10 * time.Second)
	for range streams {
		select {
		case e := <-done:
			if d := e.at.Sub(revoked); d > 3*time.Second {
				t.Errorf("%s ended %v after the revocation", e.name, d)
			}
		case <-timeout:
			t.Fatal("a stream outlived its token's revocation by 10 s")
		}
	}
	select {
	case e := <-longPoll:
		if d := e.at.Sub(revoked); d > 3*time.Second || d < 0 {
			t.Errorf("the long-poll ended %v after the revocation (%v)", d, e.err)
		}
		t.Logf("long-poll: %v", e.err)
	case <-time.After(10 * time.Second):
		t.Error("a long-poll outlived its token's revocation by 10 s")
	}
	for name, r := range streams {
		r2 := r.Clone(r.Context())
		resp, err := http.DefaultClient.Do(r2)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("%s with the revoked token: %d, want 401", name, resp.StatusCode)
		}
	}
}
