package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestScopesCannotBeWidened is an adversarial pass's hostile scoped client: a
// token scoped to orders.* tries to reach past it by every pattern trick
// (every topic, NATS-style '>', case, empty segments, a prefix pattern of
// a pattern, Unicode lookalikes, spaces, NUL, system topics, very long
// patterns, a wider pattern beside a narrow one) when minting a token,
// subscribing and publishing. Each is refused (400 or 403, the JSON
// error); only what orders.* covers is let through. These held.
func TestScopesCannotBeWidened(t *testing.T) {
	th := newBoltHub(t)
	scopedAdmin, _ := th.createToken(`{"purpose":"admin","topics":["orders.*"]}`)
	stream, _ := th.createToken(`{"purpose":"stream","topics":["orders.*"]}`)
	pub, _ := th.createToken(`{"purpose":"publish","topics":["orders.*"]}`)
	long := "orders." + strings.Repeat("a", 300)
	tricks := []string{"*", "orders.*,*", "ORDERS.*", "Orders.x", "orders", ">", "orders.>", "orders..x", "orders.*.*",
		"orders.ｘ", "ｏrders.x", "orders. x", " orders.*,users.*", "orders.x\x00", "$sys.revoke", "$sys.*", "", long,
		"orders*", "orders.x,users.x", "users.*", ".orders.x", "orders.x."}
	for _, p := range tricks {
		pats := strings.Split(p, ",")
		b, _ := json.Marshal(map[string]any{"purpose": "stream", "topics": pats})
		resp, body := send(t, th.newRequest("POST", "/api/tokens", scopedAdmin, string(b), "Content-Type", "application/json"))
		if resp.StatusCode != 400 && resp.StatusCode != 403 {
			t.Errorf("mint %q: %d %.200s", p, resp.StatusCode, body)
		} else {
			wantError(t, "mint "+p, resp, body, resp.StatusCode, "")
		}
		if p != "" {
			q := url.Values{"topic": {p}}
			resp, body = send(t, bounded(t, th.newRequest("GET", "/events?"+q.Encode(), stream, "")))
			if resp.StatusCode != 400 && resp.StatusCode != 403 {
				t.Errorf("subscribe %q: %d %.200s", p, resp.StatusCode, body)
			} else {
				wantError(t, "subscribe "+p, resp, body, resp.StatusCode, "")
			}
			resp, body = send(t, bounded(t, th.newRequest("GET", "/events?topic=orders.x&"+q.Encode(), stream, "")))
			if resp.StatusCode != 400 && resp.StatusCode != 403 {
				t.Errorf("subscribe orders.x and %q: %d %.200s", p, resp.StatusCode, body)
			}
		}
		if !strings.Contains(p, "*") && !strings.Contains(p, ",") && p != "" && p != ">" {
			resp, body = send(t, th.newRequest("POST", "/publish/"+url.PathEscape(p), pub, "1"))
			if resp.StatusCode/100 == 2 {
				t.Errorf("publish to %q: %d %.200s", p, resp.StatusCode, body)
			}
			env, _ := json.Marshal(map[string]any{"topic": p, "data": 1})
			resp, body = send(t, th.newRequest("POST", "/publish", pub, string(env), "Content-Type", "application/json"))
			if resp.StatusCode/100 == 2 {
				t.Errorf("publish an envelope to %q: %d %.200s", p, resp.StatusCode, body)
			}
		}
	}
	// What the scope covers works, so the refusals above are about scope.
	if resp, body := send(t, th.newRequest("POST", "/api/tokens", scopedAdmin, `{"purpose":"stream","topics":["orders.a.*","orders.b"]}`,
		"Content-Type", "application/json")); resp.StatusCode != 201 {
		t.Errorf("mint within the scope: %d %s", resp.StatusCode, body)
	}
	if resp, body := send(t, th.newRequest("POST", "/publish/orders.x", pub, "1")); resp.StatusCode != 200 {
		t.Errorf("publish within the scope: %d %s", resp.StatusCode, body)
	}
}

// bounded gives req a second to answer: a stream that opened by mistake
// fails the test instead of hanging it.
func bounded(t *testing.T, req *http.Request) *http.Request {
	ctx, cancel := context.WithTimeout(req.Context(), time.Second)
	t.Cleanup(cancel)
	return req.WithContext(ctx)
}
