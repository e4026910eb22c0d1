package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/sse"
)

// createToken makes a token through the API and returns its secret and id.
func (th *testHub) createToken(body string) (secret, id string) {
	th.t.Helper()
	resp, b := th.do("POST", "/api/tokens", "application/json", body)
	if resp.StatusCode != 201 {
		th.t.Fatalf("create token: %d %s", resp.StatusCode, b)
	}
	var out struct{ ID, Token string }
	if err := json.Unmarshal(b, &out); err != nil {
		th.t.Fatal(err)
	}
	return out.Token, out.ID
}

func statusWith(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader("x"))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/json" {
		return resp.StatusCode, ""
	}
	var e struct{ Error struct{ Code string } }
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error.Code
}

func TestTokenStatusCodes(t *testing.T) {
	th := newMemoryHub(t)
	stream, _ := th.createToken(`{"purpose":"stream","topics":["orders.*"]}`)
	pub, pubID := th.createToken(`{"purpose":"ingest","topics":["orders.*"],"label":"shop"}`)
	expired, _ := th.createToken(`{"purpose":"publish","ttl":0.05}`)
	time.Sleep(100 * time.Millisecond)
	u := th.srv.URL
	cases := []struct {
		method, url, token string
		status             int
		code               string
	}{
		{"POST", u + "/publish/orders.x", pub, 200, ""},
		{"POST", u + "/publish/other.x", pub, 403, "FORBIDDEN"},
		{"POST", u + "/publish/orders.x", stream, 403, "FORBIDDEN"},
		{"POST", u + "/publish/orders.x", "", 401, "UNAUTHORIZED"},
		{"POST", u + "/publish/orders.x", "not-hex", 400, "BAD_TOKEN"},
		{"POST", u + "/publish/orders.x", strings.Repeat("ab", 32), 401, "UNAUTHORIZED"},
		{"POST", u + "/publish/orders.x", expired, 401, "UNAUTHORIZED"},
		{"GET", u + "/events?topic=orders.*", stream, 200, ""},
		{"GET", u + "/events?topic=*", stream, 403, "FORBIDDEN"},
		{"GET", u + "/events?topic=orders.*", pub, 403, "FORBIDDEN"},
		{"GET", u + "/stream/" + stream, "", 200, ""},
		{"GET", u + "/stream/" + pub, "", 403, "FORBIDDEN"},
		{"GET", u + "/stream/xyz", "", 400, "BAD_TOKEN"},
		{"GET", u + "/stream/" + strings.Repeat("cd", 32), "", 401, "UNAUTHORIZED"},
		{"GET", u + "/api/tokens", stream, 403, "FORBIDDEN"},
	}
	for _, c := range cases {
		if got, code := statusWith(t, c.method, c.url, c.token); got != c.status || code != c.code {
			t.Errorf("%s %s with %.8s…: %d %q, want %d %q", c.method, c.url, c.token, got, code, c.status, c.code)
		}
	}
	// Listing never shows a secret.
	resp, b := th.do("GET", "/api/tokens", "", "")
	if resp.StatusCode != 200 || strings.Contains(string(b), pub) || strings.Contains(string(b), stream) || !strings.Contains(string(b), pubID) {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}
	// Revoked: 401.
	if resp, b := th.do("DELETE", "/api/tokens/"+pubID, "", ""); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, b)
	}
	if got, _ := statusWith(t, "POST", u+"/publish/orders.x", pub); got != 401 {
		t.Errorf("revoked token: %d", got)
	}
	if resp, _ := th.do("DELETE", "/api/tokens/tok_nope", "", ""); resp.StatusCode != 404 {
		t.Errorf("revoke unknown: %d", resp.StatusCode)
	}
	// Deregistered topic: 410 on the token's own stream too.
	th.do("DELETE", "/api/topics/orders.x", "", "")
	exact, _ := th.createToken(`{"purpose":"stream","topics":["orders.x"]}`)
	if got, code := statusWith(t, "GET", u+"/stream/"+exact, ""); got != 410 || code != "GONE" {
		t.Errorf("deregistered: %d %s", got, code)
	}
}

// TestLiveStreamClosedOnRevokeAndExpiry checks that a live stream ends
// promptly with an error event when its token is revoked or expires.
func TestLiveStreamClosedOnRevokeAndExpiry(t *testing.T) {
	forEachMode(t, testLiveStreamClosedOnRevokeAndExpiry)
}

func testLiveStreamClosedOnRevokeAndExpiry(t *testing.T, mode hubOption) {
	th := newMemoryHub(t, mode)
	revoked, id := th.createToken(`{"purpose":"stream"}`)
	expiring, _ := th.createToken(`{"purpose":"stream","ttl":"300ms"}`)
	for _, c := range []struct {
		name, secret string
		end          func()
	}{
		{"revoke", revoked, func() { th.do("DELETE", "/api/tokens/"+id, "", "") }},
		{"expiry", expiring, func() {}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Get(th.srv.URL + "/stream/" + c.secret)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%v %v", resp, err)
			}
			defer resp.Body.Close()
			start := time.Now()
			c.end()
			dec := sse.NewDecoder(resp.Body)
			ev, err := dec.Next()
			if err != nil || ev.Type != "error" || !strings.Contains(string(ev.Data), "UNAUTHORIZED") {
				t.Fatalf("got %+v %v", ev, err)
			}
			if _, err := dec.Next(); err != io.EOF {
				t.Fatalf("stream not closed: %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("closed after %v", d)
			}
		})
	}
}

func TestTokenCookie(t *testing.T) {
	th := newMemoryHub(t)
	stream, _ := th.createToken(`{"purpose":"stream"}`)
	req, _ := http.NewRequest("GET", th.srv.URL+"/events?topic=c", nil)
	req.AddCookie(&http.Cookie{Name: httpapi.TokenCookie, Value: stream})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("cookie token: %d", resp.StatusCode)
	}
}

// TestTokenListPages checks GET /api/tokens pages: every token exactly
// once, oldest first, across pages of limit, with a purpose filter, and a
// cursor that outlives its token's revocation; a bad limit or cursor is a
// 400.
func TestTokenListPages(t *testing.T) {
	th := newMemoryHub(t)
	var ids []string
	for i := range 7 {
		purpose := "stream"
		if i%3 == 0 {
			purpose = "publish"
		}
		_, id := th.createToken(`{"purpose":"` + purpose + `"}`)
		ids = append(ids, id)
	}
	page := func(q string) (got []string, next string) {
		t.Helper()
		resp, b := th.do("GET", "/api/tokens?"+q, "", "")
		if resp.StatusCode != 200 {
			t.Fatalf("GET /api/tokens?%s: %d %s", q, resp.StatusCode, b)
		}
		var out struct {
			Tokens []struct{ ID string }
			Next   string
		}
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		for _, tk := range out.Tokens {
			got = append(got, tk.ID)
		}
		return got, out.Next
	}
	var all []string
	q := "limit=3"
	for pages := 0; ; pages++ {
		got, next := page(q)
		if len(got) > 3 || pages > 3 {
			t.Fatalf("page %d: %v", pages, got)
		}
		all = append(all, got...)
		if next == "" {
			break
		}
		if pages == 0 {
			th.do("DELETE", "/api/tokens/"+got[2], "", "") // the cursor's own token revoked
		}
		q = "limit=3&after=" + next
	}
	if strings.Join(all, ",") != strings.Join(ids, ",") {
		t.Errorf("pages listed\n%v\nwant every token once, oldest first\n%v", all, ids)
	}
	if got, next := page("limit=7"); len(got) != 7 || next != "" {
		t.Errorf("a page of exactly all tokens: %d tokens, next %q; want 7 and no next", len(got), next)
	}
	if got, next := page("purpose=publish&limit=2"); len(got) != 2 || next == "" || got[0] != ids[0] || got[1] != ids[3] {
		t.Errorf("purpose filter: %v next %q", got, next)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "after=nope", "after=12.", "after=x.tok_1"} {
		if resp, b := th.do("GET", "/api/tokens?"+q, "", ""); resp.StatusCode != 400 || !strings.Contains(string(b), "BAD_REQUEST") {
			t.Errorf("GET /api/tokens?%s: %d %s, want 400", q, resp.StatusCode, b)
		}
	}
}

// TestRevokingAMinterEndsWhatItMinted: a token a scoped admin token
// minted names its minter, and revoking the minter revokes it too and
// ends its open streams; before, it kept working after its minter was
// revoked (a compromised admin token's tokens outlived it).
func TestRevokingAMinterEndsWhatItMinted(t *testing.T) {
	th := newMemoryHub(t)
	minter, minterID := th.createToken(`{"purpose":"admin","topics":["orders.*"]}`)
	resp, b := th.do("POST", "/api/tokens", "application/json", `{"purpose":"stream","topics":["orders.*"]}`, "Authorization", "Bearer "+minter)
	if resp.StatusCode != 201 {
		t.Fatalf("mint: %d %s", resp.StatusCode, b)
	}
	var child struct{ ID, Token, Parent string }
	if err := json.Unmarshal(b, &child); err != nil {
		t.Fatal(err)
	}
	if child.Parent != minterID {
		t.Fatalf("the minted token's parent is %q, want %s", child.Parent, minterID)
	}
	stream, err := http.Get(th.srv.URL + "/stream/" + child.Token)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("%v %v", stream, err)
	}
	defer stream.Body.Close()
	if resp, b := th.do("DELETE", "/api/tokens/"+minterID, "", ""); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, b)
	}
	start := time.Now()
	dec := sse.NewDecoder(stream.Body)
	ev, err := dec.Next()
	if err != nil || ev.Type != "error" || !strings.Contains(string(ev.Data), "UNAUTHORIZED") {
		t.Fatalf("the minted token's stream: %+v %v, want an UNAUTHORIZED error event", ev, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v", d)
	}
	if got, code := statusWith(t, "GET", th.srv.URL+"/events?topic=orders.*", child.Token); got != 401 || code != "UNAUTHORIZED" {
		t.Errorf("the minted token after its minter's revocation: %d %s, want 401", got, code)
	}
}
