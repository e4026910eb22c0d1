package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi"
)

// tokenInfo is a token as the API shows it.
type tokenInfo struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	Purpose   string    `json:"purpose"`
	Topics    []string  `json:"topics"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TestScopedAdminStaysInItsScope guards defect 8: an admin token scoped to
// orders.* minted a "*" stream token and deregistered other.keep. A
// scoped admin mints tokens within its scope only, lists and revokes only
// the tokens within it, and lists, reads and deregisters only the topics
// within it; the operator's admin token does all of it.
func TestScopedAdminStaysInItsScope(t *testing.T) {
	th := newMemoryHub(t)
	th.publish("orders.new", "1")
	th.publish("other.keep", "2")
	scoped, scopedID := th.createToken(`{"purpose":"admin","topics":["orders.*"]}`)
	_, otherID := th.createToken(`{"purpose":"stream","topics":["other.*"]}`)
	_, allID := th.createToken(`{"purpose":"stream"}`)
	_, inID := th.createToken(`{"purpose":"publish","topics":["orders.eu.*"]}`)

	as := func(token, method, path, body string) (int, []byte) {
		t.Helper()
		ct := ""
		if body != "" {
			ct = "application/json"
		}
		resp, b := send(t, th.newRequest(method, path, token, body, "Content-Type", ct))
		if resp.StatusCode >= 400 {
			wantError(t, method+" "+path, resp, b, resp.StatusCode, "")
		}
		return resp.StatusCode, b
	}

	// Minting.
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"purpose":"stream"}`, 403},                            // "*"
		{`{"purpose":"stream","topics":["*"]}`, 403},             // "*" spelled out
		{`{"purpose":"stream","topics":["other.keep"]}`, 403},    // outside
		{`{"purpose":"admin","topics":["orders.*","x.*"]}`, 403}, // partly outside
		{`{"purpose":"stream","topics":["orders"]}`, 403},        // "orders" is not in orders.*
		{`{"purpose":"stream","topics":["orders.*"]}`, 201},
		{`{"purpose":"publish","topics":["orders.eu.*","orders.us"]}`, 201},
		{`{"purpose":"admin","topics":["orders.eu.*"]}`, 201},
	} {
		if got, b := as(scoped, "POST", "/api/tokens", c.body); got != c.status {
			t.Errorf("scoped admin mints %s: %d %s, want %d", c.body, got, b, c.status)
		}
	}
	if got, _ := as(adminToken, "POST", "/api/tokens", `{"purpose":"stream"}`); got != 201 {
		t.Errorf("the operator mints a * token: %d", got)
	}

	// Listing and revoking tokens.
	list := func(token string) map[string]tokenInfo {
		t.Helper()
		code, b := as(token, "GET", "/api/tokens", "")
		if code != 200 {
			t.Fatalf("list tokens: %d %s", code, b)
		}
		var out struct{ Tokens []tokenInfo }
		bodyJSON(t, b, &out)
		m := map[string]tokenInfo{}
		for _, ti := range out.Tokens {
			m[ti.ID] = ti
		}
		return m
	}
	seen := list(scoped)
	for id, ti := range seen {
		for _, p := range ti.Topics {
			if p != "orders.*" && !strings.HasPrefix(p, "orders.") {
				t.Errorf("the scoped admin lists token %s of topics %v", id, ti.Topics)
			}
		}
	}
	if _, ok := seen[otherID]; ok {
		t.Errorf("the scoped admin lists the other.* token")
	}
	if _, ok := seen[allID]; ok {
		t.Errorf("the scoped admin lists the * token")
	}
	if _, ok := seen[inID]; !ok {
		t.Errorf("the scoped admin does not list the orders.eu.* token")
	}
	if all := list(adminToken); len(all) <= len(seen) || all[otherID].ID == "" || all[allID].ID == "" {
		t.Errorf("the operator lists %d tokens, the scoped admin %d", len(all), len(seen))
	}
	for _, id := range []string{otherID, allID} {
		if got, _ := as(scoped, "DELETE", "/api/tokens/"+id, ""); got != 403 && got != 404 {
			t.Errorf("the scoped admin revokes token %s outside its scope: %d", id, got)
		}
	}
	if got, _ := as(scoped, "DELETE", "/api/tokens/"+inID, ""); got != 200 {
		t.Errorf("the scoped admin revokes a token within its scope: %d", got)
	}
	if got, _ := as(adminToken, "DELETE", "/api/tokens/"+otherID, ""); got != 200 {
		t.Errorf("the operator revokes the other.* token: %d", got)
	}

	// Topics.
	code, b := as(scoped, "GET", "/api/topics", "")
	if code != 200 || strings.Contains(string(b), "other.keep") || !strings.Contains(string(b), "orders.new") {
		t.Errorf("the scoped admin's topics: %d %s", code, b)
	}
	if got, _ := as(scoped, "GET", "/api/topics/other.keep", ""); got != 403 {
		t.Errorf("the scoped admin reads other.keep: %d", got)
	}
	if got, _ := as(scoped, "DELETE", "/api/topics/other.keep", ""); got != 403 {
		t.Errorf("the scoped admin deregisters other.keep: %d", got)
	}
	if th.hub.Gone("other.keep") {
		t.Errorf("other.keep was deregistered")
	}
	if got, _ := as(scoped, "GET", "/api/topics/orders.new", ""); got != 200 {
		t.Errorf("the scoped admin reads orders.new: %d", got)
	}
	if got, _ := as(scoped, "DELETE", "/api/topics/orders.new", ""); got != 200 {
		t.Errorf("the scoped admin deregisters orders.new: %d", got)
	}
	if got, _ := as(adminToken, "DELETE", "/api/topics/other.keep", ""); got != 200 {
		t.Errorf("the operator deregisters other.keep: %d", got)
	}
	// The scoped admin may revoke itself, and is then refused.
	if got, _ := as(scoped, "DELETE", "/api/tokens/"+scopedID, ""); got != 200 {
		t.Errorf("the scoped admin revokes itself: %d", got)
	}
	if got, _ := as(scoped, "GET", "/api/tokens", ""); got != 401 {
		t.Errorf("a revoked scoped admin lists tokens: %d", got)
	}
}

// TestMintedTokensDoNotOutliveTheirMinter: a scoped admin token that
// expires cannot mint a token that lives longer than itself, or one that
// never expires: it would outlast the scope it was lent.
func TestMintedTokensDoNotOutliveTheirMinter(t *testing.T) {
	th := newMemoryHub(t)
	scoped, _ := th.createToken(`{"purpose":"admin","topics":["orders.*"],"ttl":"1h"}`)
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"purpose":"stream","topics":["orders.*"]}`, 400},
		{`{"purpose":"stream","topics":["orders.*"],"ttl":"2h"}`, 400},
		{`{"purpose":"stream","topics":["orders.*"],"ttl":"30m"}`, 201},
	} {
		resp, b := send(t, th.newRequest("POST", "/api/tokens", scoped, c.body, "Content-Type", "application/json"))
		if resp.StatusCode != c.status {
			t.Errorf("an admin token of 1h mints %s: %d %s, want %d", c.body, resp.StatusCode, b, c.status)
		} else if c.status >= 400 {
			wantError(t, c.body, resp, b, c.status, httpapi.CodeBadRequest)
		}
	}
}

// TestTopicsArePaged: GET /api/topics?after=&limit= pages through the
// topics in name order, with "next" on every page but the last; paging
// gives every topic once, for the operator and for a scoped admin, whose
// pages hold only its topics however they are spread among the others.
func TestTopicsArePaged(t *testing.T) {
	th := newMemoryHub(t)
	var all, scopedWant []string
	var batch strings.Builder
	for i := 0; i < 230; i++ {
		topic := fmt.Sprintf("t%03d.x", i)
		if i%7 == 3 || (i >= 100 && i < 104) || i >= 220 {
			topic = fmt.Sprintf("t%03d.in", i)
			scopedWant = append(scopedWant, topic)
		}
		all = append(all, topic)
		fmt.Fprintf(&batch, `{"topic":%q,"data":%d}`+"\n", topic, i)
	}
	if resp, b := th.do("POST", "/publish", "application/x-ndjson", batch.String()); resp.StatusCode != 200 {
		t.Fatalf("publish: %d %s", resp.StatusCode, b)
	}
	patterns := map[string]bool{}
	for _, tp := range scopedWant {
		patterns[tp] = true
	}
	var ps []string
	for p := range patterns {
		ps = append(ps, p)
	}
	body, _ := json.Marshal(map[string]any{"purpose": "admin", "topics": ps})
	scoped, _ := th.createToken(string(body))

	page := func(token, query string) (topics []string, next string, ok bool) {
		t.Helper()
		resp, b := send(t, th.newRequest("GET", "/api/topics?"+query, token, ""))
		if resp.StatusCode != 200 {
			t.Errorf("GET /api/topics?%s: %d %s", query, resp.StatusCode, b)
			return nil, "", false
		}
		var out struct {
			Topics []struct{ Topic string }
			Next   *string
		}
		bodyJSON(t, b, &out)
		for _, tp := range out.Topics {
			topics = append(topics, tp.Topic)
		}
		if out.Next != nil {
			if *out.Next == "" {
				t.Errorf("GET /api/topics?%s: an empty next", query)
			}
			next = *out.Next
		}
		return topics, next, true
	}
	walk := func(token string, limit int) []string {
		t.Helper()
		var got []string
		after := ""
		for n := 0; ; n++ {
			if n > 1000 {
				t.Fatalf("paging does not end")
			}
			topics, next, ok := page(token, fmt.Sprintf("limit=%d&after=%s", limit, url.QueryEscape(after)))
			if !ok {
				return got
			}
			if len(topics) > limit {
				t.Errorf("a page of limit %d holds %d topics", limit, len(topics))
			}
			got = append(got, topics...)
			if next == "" {
				return got
			}
			after = next
		}
	}
	for _, limit := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 16, 50, 100, 229, 230, 231, 1000} {
		if got := walk(adminToken, limit); strings.Join(got, " ") != strings.Join(all, " ") {
			t.Errorf("the operator paging by %d got %d topics, want %d:\n%v", limit, len(got), len(all), got)
		}
		if got := walk(scoped, limit); strings.Join(got, " ") != strings.Join(scopedWant, " ") {
			t.Errorf("the scoped admin paging by %d got %v, want %v", limit, got, scopedWant)
		}
	}
	// A scope with few topics far apart: each request reads a bounded
	// number of topics, and paging on still finds them all.
	var far strings.Builder
	for i := 0; i < 2500; i++ {
		fmt.Fprintf(&far, `{"topic":"u%04d.x","data":1}`+"\n", i)
	}
	far.WriteString(`{"topic":"zz.in","data":1}` + "\n")
	if resp, b := th.do("POST", "/publish", "application/x-ndjson", far.String()); resp.StatusCode != 200 {
		t.Fatalf("publish: %d %s", resp.StatusCode, b)
	}
	sparse, _ := th.createToken(`{"purpose":"admin","topics":["t000.x","zz.*"]}`)
	for _, limit := range []int{1, 100} {
		if got := walk(sparse, limit); strings.Join(got, " ") != "t000.x zz.in" {
			t.Errorf("a sparse scope paging by %d got %v", limit, got)
		}
	}
	if !sort.StringsAreSorted(all) {
		t.Fatal("test topics are not in name order")
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=x", "limit=100000", "after=" + strings.Repeat("a", 300)} {
		resp, b := send(t, th.newRequest("GET", "/api/topics?"+q, adminToken, ""))
		wantError(t, "GET /api/topics?"+q, resp, b, 400, "")
	}
}

// TestTTLIsStrict guards defect 11: "ttl":1e10 or 1e300 answered 500, and
// "ttl":1e-12 rounded to zero and made a token that never expires. Every
// TTL out of range or not positive is 400, and nothing is created.
func TestTTLIsStrict(t *testing.T) {
	th := newMemoryHub(t)
	for _, ttl := range []string{
		`0`, `-1`, `-0`, `1e-12`, `0.0001`, `1e10`, `1e300`, `1e400`, `-1e300`, `"0s"`, `"-1h"`, `"0"`, `""`,
		`"NaN"`, `"Inf"`, `"+Inf"`, `"1e300"`, `"9999999999h"`, `"2562047h"`, `"1000000h"`, `"10ns"`, `"1µs"`,
		`"8 h"`, `"forever"`, `true`, `{}`, `[]`, `[1]`, `"1e-12s"`, `"0.0000001s"`,
	} {
		before := len(th.listTokens())
		body := `{"purpose":"stream","ttl":` + ttl + `}`
		resp, b := th.do("POST", "/api/tokens", "application/json", body)
		wantError(t, "ttl "+ttl, resp, b, 400, "")
		if n := len(th.listTokens()); n != before {
			t.Errorf("ttl %s: a token was created", ttl)
		}
	}
	for _, c := range []struct {
		ttl  string
		want time.Duration
	}{{`"8h"`, 8 * time.Hour}, {`1.5`, 1500 * time.Millisecond}, {`"1ms"`, time.Millisecond}, {`60`, time.Minute}, {`null`, 0}} {
		resp, b := th.do("POST", "/api/tokens", "application/json", `{"purpose":"stream","ttl":`+c.ttl+`}`)
		if resp.StatusCode != 201 {
			t.Errorf("ttl %s: %d %s", c.ttl, resp.StatusCode, b)
			continue
		}
		var ti tokenInfo
		bodyJSON(t, b, &ti)
		switch {
		case c.want == 0 && !ti.ExpiresAt.IsZero():
			t.Errorf("ttl %s: expires at %v, want never", c.ttl, ti.ExpiresAt)
		case c.want > 0 && (ti.ExpiresAt.IsZero() || time.Until(ti.ExpiresAt) > c.want || time.Until(ti.ExpiresAt) < c.want-time.Minute):
			t.Errorf("ttl %s: expires at %v, want in %v", c.ttl, ti.ExpiresAt, c.want)
		}
	}
}

// listTokens returns the tokens the operator sees.
func (th *testHub) listTokens() []tokenInfo {
	th.t.Helper()
	resp, b := th.do("GET", "/api/tokens", "", "")
	if resp.StatusCode != 200 {
		th.t.Fatalf("list tokens: %d %s", resp.StatusCode, b)
	}
	var out struct{ Tokens []tokenInfo }
	bodyJSON(th.t, b, &out)
	return out.Tokens
}

// TestJSONBodiesAreExact: a token request (and a sign-in) with anything
// after its JSON value, an unknown field or a second value is 400 and
// creates nothing; a trailing newline is fine.
func TestJSONBodiesAreExact(t *testing.T) {
	th := newMemoryHub(t)
	for _, body := range []string{
		`{"purpose":"stream"} x`, `{"purpose":"stream"}{"purpose":"admin"}`, `{"purpose":"stream"}]`,
		`{"purpose":"stream"},`, `{"purpose":"stream"} 1`, `{"purpose":"stream"} null`, `{"purpose":"stream","bogus":1}`,
		`{"purpose":"stream"`, ``, `null x`, `[{"purpose":"stream"}]`, "{\"purpose\":\"stream\"}\x00",
	} {
		before := len(th.listTokens())
		resp, b := th.do("POST", "/api/tokens", "application/json", body)
		wantError(t, fmt.Sprintf("token request %q", body), resp, b, 400, "")
		if len(th.listTokens()) != before {
			t.Errorf("token request %q created a token", body)
		}
		resp, b = th.do("POST", "/api/session", "application/json", strings.Replace(body, `"purpose":"stream"`, `"token":"`+adminToken+`"`, 1))
		wantError(t, fmt.Sprintf("sign-in %q", body), resp, b, 400, "")
	}
	if resp, b := th.do("POST", "/api/tokens", "application/json", "{\"purpose\":\"stream\"}\n\r\n "); resp.StatusCode != 201 {
		t.Errorf("trailing white space: %d %s", resp.StatusCode, b)
	}
}
