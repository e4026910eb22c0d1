package mercure_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/mercure"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/sse"
)

func TestPublishSubscribeExact(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true})
	s := e.subscribe(q("match", "https://example.com/books/1", "match", "other"), nil)
	if l := s.resp.Header.Get("Link"); !strings.Contains(l, `rel="mercure"`) || !strings.Contains(l, mercure.Path) {
		t.Errorf("Link = %q, want the discovery link", l)
	}
	st, id, resp := e.publish(accessToken(t, pubKey, detail([]string{"publish"}, exact("*"))),
		form("topic", "https://example.com/books/1", "data", "line 1\nline 2", "id", "urn:uuid:1", "type", "book", "retry", "2500"))
	if st != 200 || id != "urn:uuid:1" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("publish: %d %q %q", st, id, resp.Header.Get("Content-Type"))
	}
	ev := s.next(t)
	if ev.ID != "urn:uuid:1" || ev.Type != "book" || string(ev.Data) != "line 1\nline 2" || ev.Retry != 2500*time.Millisecond {
		t.Fatalf("got %+v", ev)
	}
	// Another topic does not reach it; a hub-generated id is "#" and the log id.
	got := e.mustPublish(form("topic", "https://example.com/books/2", "data", "x"))
	if !strings.HasPrefix(got, "#") {
		t.Errorf("hub id %q, want a fragment", got)
	}
	s.none(t, 300*time.Millisecond)
}

func TestMatchersURLPatternAndURITemplate(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true})
	up := e.subscribe(q("match_urlpattern", "https://example.com/books/:id"), nil)
	rel := e.subscribe(q("match_urlpattern", "/books/:id"), nil) // relative: resolved against the hub's URL
	tpl := e.subscribe(q("topic", "https://example.com/books/{id}"), nil)
	star := e.subscribe(q("match", "*"), nil)
	e.mustPublish(form("topic", "https://example.com/books/7", "data", "seven"))
	for name, s := range map[string]*stream{"urlpattern": up, "uritemplate": tpl, "wildcard": star} {
		if ev := s.next(t); string(ev.Data) != "seven" {
			t.Errorf("%s got %q", name, ev.Data)
		}
	}
	e.mustPublish(form("topic", "/books/8", "data", "relative"))
	if ev := rel.next(t); string(ev.Data) != "relative" {
		t.Errorf("relative pattern got %q", ev.Data)
	}
	e.mustPublish(form("topic", "https://example.com/authors/1", "data", "author"))
	up.none(t, 200*time.Millisecond)
	tpl.none(t, 100*time.Millisecond)
}

func TestAlternateTopics(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true})
	s := e.subscribe(q("match", "https://example.com/users/42/books/1"), nil)
	e.mustPublish(form("topic", "https://example.com/books/1", "topic", "https://example.com/users/42/books/1", "data", "alt"))
	if ev := s.next(t); string(ev.Data) != "alt" {
		t.Fatalf("got %q", ev.Data)
	}
}

func TestLastEventID(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true})
	topic := "https://example.com/r"
	a := e.mustPublish(form("topic", topic, "data", "a", "id", "dup"))
	e.mustPublish(form("topic", topic, "data", "b"))
	e.mustPublish(form("topic", topic, "data", "c", "id", "dup")) // a reused id resolves to its first update
	e.mustPublish(form("topic", "elsewhere", "data", "x"))
	read := func(s *stream, n int) []string {
		var out []string
		for range n {
			out = append(out, string(s.next(t).Data))
		}
		return out
	}
	check := func(name string, s *stream, wantHeader string, want ...string) {
		t.Helper()
		if h := s.resp.Header.Get("Mercure-Last-Event-ID"); h != wantHeader {
			t.Errorf("%s: Mercure-Last-Event-ID %q, want %q", name, h, wantHeader)
		}
		if got := read(s, len(want)); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
		s.none(t, 100*time.Millisecond)
	}
	check("header", e.subscribe(q("match", topic), http.Header{"Last-Event-ID": {a}}), "dup", "b", "c")
	check("query", e.subscribe(q("match", topic, "last_event_id", "dup"), nil), "dup", "b", "c")
	check("header wins", e.subscribe(q("match", topic, "last_event_id", "earliest"), http.Header{"Last-Event-ID": {"dup"}}), "dup", "b", "c")
	check("legacy lastEventID", e.subscribe(q("match", topic, "lastEventID", "dup"), nil), "dup", "b", "c")
	check("earliest", e.subscribe(q("match", topic, "last_event_id", "earliest"), nil), "earliest", "a", "b", "c")
	check("unknown", e.subscribe(q("match", topic, "last_event_id", "nope"), nil), "earliest", "a", "b", "c")
	b := e.subscribe(q("match", topic, "last_event_id", "earliest"), nil)
	read(b, 1)
	second := b.next(t)
	check("hub id", e.subscribe(q("match", topic, "last_event_id", second.ID), nil), second.ID, "c")
	if !regexp.MustCompile(`^#\d+@[A-Za-z0-9]+$`).MatchString(second.ID) {
		t.Errorf("hub id %q, want #<log id>@<epoch>", second.ID)
	}
	n, _, _ := strings.Cut(second.ID, "@")
	check("hub id without epoch", e.subscribe(q("match", topic, "last_event_id", n), nil), n, "c")
	check("hub id of another log", e.subscribe(q("match", topic, "last_event_id", n+"@elsewhere"), nil), "earliest", "a", "b", "c")
}

func TestPrivateUpdates(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true})
	topic := "https://example.com/secret/1"
	anon := e.subscribe(q("match", topic), nil)
	granted := e.subscribe(q("match", topic), bearer(accessToken(t, subKey, detail([]string{"subscribe"}, pattern("https://example.com/secret/:id")))))
	other := e.subscribe(q("match", topic), bearer(accessToken(t, subKey, detail([]string{"subscribe"}, exact("https://example.com/secret/2")))))
	legacy := e.subscribe(q("topic", topic), http.Header{"Cookie": {mercure.LegacyCookieName + "=" + legacyToken(t, subKey, map[string]any{"subscribe": []any{"https://example.com/secret/{id}"}})}})
	cookie := e.subscribe(q("match", topic), http.Header{"Cookie": {mercure.CookieName + "=" + accessToken(t, subKey, detail([]string{"subscribe"}, exact("*")))}})
	e.mustPublish(form("topic", topic, "data", "private", "private", ""))
	e.mustPublish(form("topic", topic, "data", "public"))
	for name, s := range map[string]*stream{"granted": granted, "legacy cookie": legacy, "cookie": cookie} {
		if ev := s.next(t); string(ev.Data) != "private" {
			t.Errorf("%s got %q first, want the private update", name, ev.Data)
		}
	}
	for name, s := range map[string]*stream{"anonymous": anon, "other grant": other} {
		if ev := s.next(t); string(ev.Data) != "public" {
			t.Errorf("%s got %q, want only the public update", name, ev.Data)
		}
	}
	// Replay applies the same rule.
	replay := e.subscribe(q("match", topic, "last_event_id", "earliest"), nil)
	if ev := replay.next(t); string(ev.Data) != "public" {
		t.Errorf("anonymous replay got %q", ev.Data)
	}
}

func TestAuthErrors(t *testing.T) {
	e := newEnv(t, mercure.Options{Issuers: []string{issuer}, Audience: audience})
	pubAll := detail([]string{"publish"}, exact("*"))
	challenge := func(name string, st int, resp *http.Response, wantStatus int, wantErr string) {
		t.Helper()
		h := resp.Header.Get("WWW-Authenticate")
		if st != wantStatus || !strings.HasPrefix(h, "Bearer") || (wantErr != "" && !strings.Contains(h, `error="`+wantErr+`"`)) ||
			(wantErr == "" && strings.Contains(h, "error=")) {
			t.Errorf("%s: %d %q, want %d with error %q", name, st, h, wantStatus, wantErr)
		}
	}
	f := form("topic", "t", "data", "d")
	st, _, resp := e.publish("", f)
	challenge("no token", st, resp, 401, "")
	st, _, resp = e.publish(accessToken(t, "wrong-key-wrong-key-wrong-key-xx", pubAll), f)
	challenge("bad signature", st, resp, 401, "invalid_token")
	st, _, resp = e.publish(accessToken(t, pubKey, detail([]string{"publish"}, exact("other"))), f)
	challenge("no grant for the topic", st, resp, 403, "insufficient_scope")
	st, _, resp = e.publish(accessToken(t, pubKey, detail([]string{"subscribe"}, exact("*"))), f)
	challenge("subscribe only", st, resp, 403, "insufficient_scope")
	st, _, resp = e.publish(accessToken(t, subKey, pubAll), f)
	challenge("the subscriber key", st, resp, 401, "invalid_token")

	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": issuer, "aud": []string{"x", audience}, "exp": time.Now().Add(time.Hour).Unix(), "sub": "s",
			"authorization_details": []any{pubAll}}
		mod(c)
		return c
	}
	if st, _, _ := e.publish(sign(t, pubKey, "application/AT+JWT", claims(func(jwt.MapClaims) {})), f); st != 200 {
		t.Errorf("aud as a list, typ application/at+jwt: %d", st)
	}
	for name, tok := range map[string]string{
		"typ JWT":    sign(t, pubKey, "JWT", claims(func(jwt.MapClaims) {})),
		"other iss":  sign(t, pubKey, "at+jwt", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil" })),
		"other aud":  sign(t, pubKey, "at+jwt", claims(func(c jwt.MapClaims) { c["aud"] = "https://other" })),
		"no exp":     sign(t, pubKey, "at+jwt", claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"expired":    sign(t, pubKey, "at+jwt", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
		"not before": sign(t, pubKey, "at+jwt", claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })),
		"bad detail": sign(t, pubKey, "at+jwt", claims(func(c jwt.MapClaims) {
			c["authorization_details"] = []any{map[string]any{"type": mercure.DetailType, "actions": []any{}, "topics": []any{exact("*")}}}
		})),
		"bad match_type": sign(t, pubKey, "at+jwt", claims(func(c jwt.MapClaims) {
			c["authorization_details"] = []any{detail([]string{"publish"}, map[string]string{"match": "*", "match_type": "regex"})}
		})),
		"alg none": func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(func(jwt.MapClaims) {})).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(),
	} {
		st, _, resp := e.publish(tok, f)
		challenge(name, st, resp, 401, "invalid_token")
	}
	req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(f.Encode()))
	req.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	challenge("Basic", resp.StatusCode, resp, 400, "invalid_request")

	// Anonymous subscribers are off here.
	_, resp = e.trySubscribe(q("match", "t"), nil)
	challenge("anonymous subscriber", resp.StatusCode, resp, 401, "")
	// The Authorization header wins over a cookie.
	h := bearer("not.a.jwt")
	h.Set("Cookie", mercure.LegacyCookieName+"="+accessToken(t, subKey, detail([]string{"subscribe"}, exact("*"))))
	_, resp = e.trySubscribe(q("match", "t"), h)
	challenge("header over cookie", resp.StatusCode, resp, 401, "invalid_token")
}

func TestCookiePublishNeedsSameOrigin(t *testing.T) {
	e := newEnv(t, mercure.Options{})
	tok := accessToken(t, pubKey, detail([]string{"publish"}, exact("*")))
	post := func(origin string) int {
		req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(form("topic", "t").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", mercure.LegacyCookieName+"="+tok)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("https://evil.example"); st != http.StatusForbidden {
		t.Errorf("cross-origin cookie publish: %d, want 403", st)
	}
	if st := post(e.th.Srv.URL); st != http.StatusOK {
		t.Errorf("same-origin cookie publish: %d, want 200", st)
	}
}

func TestRS256(t *testing.T) {
	priv, pem := rsaKeys(t)
	e := newEnv(t, mercure.Options{Publisher: mercure.Key{Alg: "RS256", Key: pem}, Anonymous: true})
	s := e.subscribe(q("match", "rs"), nil)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"mercure": map[string]any{"publish": []any{"*"}}})
	signed, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	if st, body, _ := e.publish(signed, form("topic", "rs", "data", "rsa")); st != 200 {
		t.Fatalf("RS256 publish: %d %s", st, body)
	}
	if ev := s.next(t); string(ev.Data) != "rsa" {
		t.Fatalf("got %q", ev.Data)
	}
	// An HS256 token signed with the public key as secret (algorithm confusion) fails.
	if st, _, _ := e.publish(legacyToken(t, pem, map[string]any{"publish": []any{"*"}}), form("topic", "rs")); st != 401 {
		t.Errorf("HS256 with the RSA public key: %d, want 401", st)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true, MaxTopics: 3, MaxMatchers: 3})
	tok := accessToken(t, pubKey, detail([]string{"publish"}, exact("*")))
	for name, c := range map[string]struct {
		f    url.Values
		want int
	}{
		"no topic":                       {form("data", "d"), 400},
		"wildcard topic":                 {form("topic", "*"), 400},
		"reserved":                       {form("topic", "/.well-known/mercure/subscriptions/x"), 400},
		"reserved, absolute and encoded": {form("topic", "https://elsewhere/.well-known/%6Dercure/../mercure/x"), 400},
		"control char":                   {form("topic", "a\x01b"), 400},
		"format char":                    {form("topic", "a\u200bb"), 400},
		"id with #":                      {form("topic", "t", "id", "#1"), 400},
		"id earliest":                    {form("topic", "t", "id", "earliest"), 400},
		"type mercure":                   {form("topic", "t", "type", "mercure"), 400},
		"type newline":                   {form("topic", "t", "type", "a\nb"), 400},
		"retry":                          {form("topic", "t", "retry", "-1"), 400},
		"too many topics":                {form("topic", "a", "topic", "b", "topic", "c", "topic", "d"), 413},
		"long topic":                     {form("topic", strings.Repeat("a", 5000)), 413},
	} {
		if st, body, _ := e.publish(tok, c.f); st != c.want {
			t.Errorf("%s: %d %q, want %d", name, st, body, c.want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(`{"topic":"t"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("JSON body: %d, want 415", resp.StatusCode)
	}
	for name, query := range map[string]string{
		"no matcher":        q("other", "x"),
		"unknown type":      q("match_regex", "x"),
		"case variant":      q("MATCH", "x"),
		"bad URL pattern":   q("match_urlpattern", "https://example.com/(["),
		"control char":      q("match", "a\x00"),
		"too many matchers": q("match", "a", "match", "b", "match", "c", "match", "d"),
		"bad escape":        "match=%zz",
	} {
		if _, resp := e.trySubscribe(query, nil); resp == nil || resp.StatusCode != 400 {
			t.Errorf("%s: want 400", name)
		}
	}
}

func TestSSEHubTokensAndBothWays(t *testing.T) {
	e := newEnv(t, mercure.Options{})
	ctx := context.Background()
	tokens := e.th.API.Tokens()
	topic := "https://example.com/orders/1"
	mapped := mercure.TopicFor(topic, false)
	streamTok, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{mapped, mercure.TopicFor(topic, true)}})
	if err != nil {
		t.Fatal(err)
	}
	pubTok, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposePublish, Topics: []string{mapped}})
	if err != nil {
		t.Fatal(err)
	}
	s := e.subscribe(q("match", topic), bearer(streamTok))
	if st, body, _ := e.publish(pubTok, form("topic", topic, "data", "via ssehub token")); st != 200 {
		t.Fatalf("publish with an ssehub token: %d %s", st, body)
	}
	if st, _, _ := e.publish(pubTok, form("topic", topic, "data", "private", "private", "on")); st != 403 {
		t.Errorf("publish private outside the token's scope: %d, want 403", st)
	}
	if st, _, _ := e.publish(streamTok, form("topic", topic)); st != 403 {
		t.Errorf("publish with a stream token: %d, want 403", st)
	}
	if _, resp := e.trySubscribe(q("match", "*"), bearer(pubTok)); resp == nil || resp.StatusCode != 403 {
		t.Errorf("subscribe with a publish token: want 403")
	}
	if ev := s.next(t); string(ev.Data) != "via ssehub token" {
		t.Fatalf("got %q", ev.Data)
	}
	// An event published the ssehub way on the mapped topic reaches the
	// Mercure subscriber, with the hub's id.
	req, _ := http.NewRequest(http.MethodPost, e.th.Srv.URL+"/publish/"+mapped+"?type=native", strings.NewReader("native"))
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("native publish: %d", resp.StatusCode)
	}
	if ev := s.next(t); string(ev.Data) != "native" || ev.Type != "native" || !strings.HasPrefix(ev.ID, "#") {
		t.Fatalf("native event: %+v", ev)
	}
	// A Mercure update reaches an ssehub stream of the mapped topic, with
	// its exact topics in the envelope's meta.
	req, _ = http.NewRequest(http.MethodGet, e.th.Srv.URL+"/events?format=envelope&last_event_id=earliest&topic="+url.QueryEscape(mapped), nil)
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err = http.DefaultClient.Do(req.WithContext(sctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 8192)
	var got string
	for !strings.Contains(got, "native") {
		n, err := resp.Body.Read(buf)
		got += string(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(got, "via ssehub token") || !strings.Contains(got, `https://example.com/orders/1`) {
		t.Errorf("ssehub stream of %s:\n%s", mapped, got)
	}
}

func TestSubscriptionsAPIAndEvents(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true, Subscriptions: true})
	watcher := accessToken(t, subKey, detail([]string{"subscribe"}, pattern("/.well-known/mercure/subscriptions{/*}?")))
	w := e.subscribe(q("match_urlpattern", "/.well-known/mercure/subscriptions/:type/:match/:sub"), bearer(watcher))
	s := e.subscribe(q("match", "https://example.com/a"), http.Header{"Authorization": {"Bearer " + accessToken(t, subKey,
		map[string]any{"type": mercure.DetailType, "actions": []any{"subscribe"}, "topics": []any{exact("*")}, "payload": map[string]any{"k": "v"}})}})
	ev := w.next(t) // its own subscription first
	if !strings.Contains(string(ev.Data), `"match":"/.well-known/mercure/subscriptions/:type/:match/:sub"`) {
		t.Fatalf("the watcher's own subscription event: %s", ev.Data)
	}
	ev = w.next(t)
	var doc map[string]any
	if err := json.Unmarshal(ev.Data, &doc); err != nil || ev.Type != "mercure" || doc["active"] != true || doc["match"] != "https://example.com/a" ||
		doc["match_type"] != "exact" || doc["type"] != "subscription" || doc["id"] != ev.ID && doc["id"] == nil {
		t.Fatalf("subscription event: %+v %v", ev, doc)
	}
	if !strings.HasPrefix(doc["id"].(string), "/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fexample.com%2Fa/urn%3Auuid%3A") {
		t.Errorf("id %q", doc["id"])
	}
	if p, _ := doc["payload"].(map[string]any); p["k"] != "v" {
		t.Errorf("payload %v", doc["payload"])
	}
	get := func(path, token string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, e.th.Srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m, resp.Header
	}
	st, list, h := get("/.well-known/mercure/subscriptions", watcher)
	subs, _ := list["subscriptions"].([]any)
	if st != 200 || list["type"] != "subscriptions" || len(subs) != 2 || !strings.Contains(h.Get("Link"), "last-event-id=") {
		t.Fatalf("collection: %d %v %q", st, list, h.Get("Link"))
	}
	st, one, _ := get(doc["id"].(string), watcher)
	if st != 200 || one["subscriber"] != doc["subscriber"] {
		t.Errorf("one subscription: %d %v", st, one)
	}
	if st, _, _ := get("/.well-known/mercure/subscriptions", ""); st != 401 {
		t.Errorf("without a token: %d", st)
	}
	if st, _, _ := get("/.well-known/mercure/subscriptions", accessToken(t, subKey, detail([]string{"subscribe"}, exact("x")))); st != 403 {
		t.Errorf("without a grant: %d", st)
	}
	s.cancel()
	if ev := w.next(t); !strings.Contains(string(ev.Data), `"active":false`) {
		t.Errorf("end event: %s", ev.Data)
	}
	if st, _, _ := get(doc["id"].(string), watcher); st != 404 {
		t.Errorf("ended subscription: %d, want 404", st)
	}
}

func TestStreamLimitApplies(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true}, func(c *hubtest.Config) { c.API.Limits.StreamsPerAddr = 1 })
	e.subscribe(q("match", "a"), nil)
	if _, resp := e.trySubscribe(q("match", "a"), nil); resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second stream from one address: want 429")
	}
}

func TestTokenExpiryEndsStream(t *testing.T) {
	e := newEnv(t, mercure.Options{})
	tok := sign(t, subKey, "at+jwt", jwt.MapClaims{"exp": time.Now().Add(1500 * time.Millisecond).Unix(),
		"authorization_details": []any{detail([]string{"subscribe"}, exact("*"))}})
	s := e.subscribe(q("match", "a"), bearer(tok))
	select {
	case _, ok := <-s.events:
		if ok {
			t.Fatal("unexpected event")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived its token's exp")
	}
}

// TestNativeMetaCannotWidenScope: an ssehub publish token scoped to one
// Mercure topic cannot, by writing Mercure meta in a JSON envelope, reach
// subscribers of other topics, forge a publisher id, or forge the hub's
// subscription events.
func TestNativeMetaCannotWidenScope(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true})
	a := "https://example.com/a"
	tok, _, err := e.th.API.Tokens().Create(context.Background(), auth.CreateOptions{Purpose: auth.PurposePublish,
		Topics: []string{mercure.TopicFor(a, false), mercure.TopicFor("/.well-known/mercure/subscriptions/x", false)}})
	if err != nil {
		t.Fatal(err)
	}
	other := e.subscribe(q("match", "https://example.com/b"), nil)
	own := e.subscribe(q("match", a), nil)
	all := e.subscribe(q("match", "*"), nil)
	post := func(body string, want int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.th.Srv.URL+"/publish", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("native publish: %d, want %d", resp.StatusCode, want)
		}
	}
	post(`{"topic":"`+mercure.TopicFor(a, false)+`","source":"mercure","data":"forged",`+
		`"meta":{"mercure":{"topics":["`+a+`","https://example.com/b"],"id":"urn:forged","sig":"00"}}}`, http.StatusOK)
	// The subscription events' type is reserved on Mercure topics: refused.
	post(`{"topic":"`+mercure.TopicFor("/.well-known/mercure/subscriptions/x", false)+`","type":"mercure","data":"{}"}`, http.StatusBadRequest)
	ev := own.next(t)
	if string(ev.Data) != "forged" || ev.ID == "urn:forged" || !strings.HasPrefix(ev.ID, "#") {
		t.Errorf("the canonical topic's subscriber got %+v; want the data with the hub's id", ev)
	}
	if ev := all.next(t); string(ev.Data) != "forged" {
		t.Errorf("wildcard got %q", ev.Data)
	}
	other.none(t, 300*time.Millisecond)
	all.none(t, 100*time.Millisecond) // the forged subscription event is not delivered
}

// TestStalledSubscriber: a client that stops reading is cut after the
// write timeout, its stream released; another subscriber gets everything
// meanwhile.
func TestStalledSubscriber(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true, WriteTimeout: time.Second}) // long enough for the reader under -race on a busy machine
	u, _ := url.Parse(e.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096) // keep the kernel from soaking up the stream
	}
	fmt.Fprintf(conn, "GET %s?match=big HTTP/1.1\r\nHost: %s\r\n\r\n", mercure.Path, u.Host)
	reader := e.subscribe(q("match", "big"), nil)
	if err := waitStreams(e, 2); err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("x", 60<<10)
	const n = 80 // ~5 MB: more than the socket buffers hold
	go func() {
		for i := range n {
			e.mustPublish(form("topic", "big", "data", data, "id", fmt.Sprint("big-", i)))
		}
	}()
	for i := range n {
		if ev := reader.next(t); ev.ID != fmt.Sprint("big-", i) {
			t.Fatalf("reader got %q at %d", ev.ID, i)
		}
	}
	if err := waitStreams(e, 1); err != nil {
		t.Fatalf("the stalled stream was not released: %v", err)
	}
}

func waitStreams(e *env, want int) error {
	deadline := time.Now().Add(10 * time.Second)
	for e.th.API.Limiter().Streams() != want {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d streams open, want %d", e.th.API.Limiter().Streams(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t, mercure.Options{MaxBodyBytes: 1024})
	st, _, _ := e.publish(accessToken(t, pubKey, detail([]string{"publish"}, exact("*"))), form("topic", "t", "data", strings.Repeat("x", 2048)))
	if st != http.StatusRequestEntityTooLarge {
		t.Errorf("a body past the limit: %d, want 413", st)
	}
}

func TestProtectedResourceMetadata(t *testing.T) {
	e := newEnv(t, mercure.Options{Audience: audience, Subscriptions: true})
	resp, err := http.Get(e.th.Srv.URL + mercure.MetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("metadata: %d %v", resp.StatusCode, err)
	}
	if doc["resource"] != audience || doc["mercure_cookie"] != mercure.CookieName || doc["mercure_subscriptions"] != true ||
		!strings.Contains(fmt.Sprint(doc["authorization_details_types_supported"]), mercure.DetailType) {
		t.Errorf("metadata %v", doc)
	}
	_, _, presp := e.publish("", form("topic", "t"))
	if h := presp.Header.Get("WWW-Authenticate"); !strings.Contains(h, `resource_metadata="`+e.th.Srv.URL+mercure.MetadataPath+`"`) {
		t.Errorf("challenge %q does not point to the metadata", h)
	}
}

// TestQueryMethod: matchers in a QUERY request's body, united with the
// query component's; last_event_id from the query component wins.
func TestQueryMethod(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true})
	e.mustPublish(form("topic", "q1", "data", "old", "id", "first"))
	e.mustPublish(form("topic", "q1", "data", "second", "id", "second"))
	e.mustPublish(form("topic", "q2", "data", "third", "id", "third"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := form("match", "q2", "last_event_id", "earliest").Encode()
	req, _ := http.NewRequestWithContext(ctx, "QUERY", e.url+"?"+q("match", "q1", "last_event_id", "first"), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Mercure-Last-Event-ID") != "first" {
		t.Fatalf("QUERY: %d, Mercure-Last-Event-ID %q", resp.StatusCode, resp.Header.Get("Mercure-Last-Event-ID"))
	}
	d := sse.NewDecoder(resp.Body)
	for _, want := range []string{"second", "third"} {
		ev, err := d.Next()
		if err != nil || string(ev.Data) != want {
			t.Fatalf("got %q (%v), want %q", ev.Data, err, want)
		}
	}
	req, _ = http.NewRequest("QUERY", e.url, strings.NewReader(`{"match":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("QUERY with JSON: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
