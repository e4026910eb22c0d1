package durable_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// Hostile clients and careless operators against the subscription APIs.

// tokenMaker returns a function that makes ssehub tokens on e's store.
func tokenMaker(t *testing.T, e *env) func(p auth.Purpose, topics ...string) string {
	tokens := auth.NewStore(e.th.Store)
	return func(p auth.Purpose, topics ...string) string {
		t.Helper()
		s, _, err := tokens.Create(context.Background(), auth.CreateOptions{Purpose: p, Topics: topics})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// TestDoubleStarScopeCoversPrefixStream: "a/**" matches the stream "a"
// itself ("**" is zero or more segments), so managing such a subscription
// takes a token that covers ds.a, not only ds.a.* (else a token for the
// streams under a/ gets a webhook told of a's offsets), and creating it
// links an existing "a" at its tail, as every other existing match.
func TestDoubleStarScopeCoversPrefixStream(t *testing.T) {
	o := subOpts()
	o.PublicRead, o.PublicWrite = false, false
	e := newEnv(t, o)
	rc := newReceiver(t)
	mk := tokenMaker(t, e)
	underA := mk(auth.PurposePublish, "ds.a.*")
	e.token = hubtest.AdminToken
	e.mustCreate("/v1/stream/a", textPlain, "the parent stream")
	e.mustCreate("/v1/stream/a/x", textPlain, "a child")

	e.token = underA
	want(t, e.do("PUT", subPath+"under", webhookSub("a/**", rc.url())), http.StatusForbidden)
	want(t, e.do("PUT", subPath+"under", webhookSub("a/**/**", rc.url())), http.StatusForbidden)
	// A pattern that cannot match "a" itself needs only ds.a.*.
	want(t, e.do("PUT", subPath+"under", webhookSub("a/*/**", rc.url())), http.StatusCreated)

	e.token = hubtest.AdminToken
	want(t, e.do("PUT", subPath+"all", webhookSub("a/**", rc.url())), http.StatusCreated)
	var paths []string
	for _, s := range e.sub("all").Streams {
		paths = append(paths, s.Path)
	}
	if strings.Join(paths, ",") != "a,a/x" {
		t.Fatalf("a/** linked %v at creation, want [a a/x]", paths)
	}
}

// TestLeaseEndFencesSettle: an ack or callback that comes after the lease
// ran out is fenced (409 FENCED) and moves nothing, even when the hub's
// tick has not yet looked at the lease.
func TestLeaseEndFencesSettle(t *testing.T) {
	o := subOpts()
	o.Subscriptions.Tick = time.Hour // the tick never runs: only the request sees the lease's end
	o.Subscriptions.WebhookConcurrency = 1
	e := newEnv(t, o)

	// Pull-wake.
	e.mustCreate("/v1/stream/wake/w", "application/json", "[]")
	want(t, e.do("PUT", subPath+"pw", `{"type":"pull-wake","pattern":"jobs/*","wake_stream":"wake/w","lease_ttl_ms":1000}`), http.StatusCreated)
	tail := e.mustCreate("/v1/stream/jobs/1", "application/json", `{"j":1}`)
	waitUntil(t, "a wake event", func() bool { return len(e.wakeEvents("/v1/stream/wake/w", "pw")) == 1 })
	r, c := e.claim("pw", "w1")
	want(t, r, http.StatusOK)
	e.clock.Add(1001 * time.Millisecond)
	r = e.settle("pw", "ack", c.Token, ackBody(c.WakeID, c.Generation, "jobs/1", tail, true))
	want(t, r, http.StatusConflict)
	if !strings.Contains(r.body, `"FENCED"`) {
		t.Fatalf("an ack after the lease: %s", r.body)
	}
	if a := e.acked("pw", "jobs/1"); a == tail {
		t.Fatal("an ack after the lease moved the cursor")
	}
	// A heartbeat after the lease does not revive it either.
	want(t, e.settle("pw", "ack", c.Token, ackBody(c.WakeID, c.Generation, "jobs/1", tail, false)), http.StatusConflict)
	// The work is pending again: the next claimer gets a new generation.
	r, c2 := e.claim("pw", "w2")
	want(t, r, http.StatusOK)
	if c2.Generation <= c.Generation {
		t.Fatalf("generation %d after the lease of %d", c2.Generation, c.Generation)
	}

	// Webhook: the lease runs from the 2xx answer. One delivery worker:
	// the second subscription's request comes only once the first one's
	// answer is recorded.
	rc := newReceiver(t)
	want(t, e.do("PUT", subPath+"wh", webhookSub("hooks/*", rc.url())), http.StatusCreated)
	want(t, e.do("PUT", subPath+"wh2", webhookSub("hooks2/*", rc.url())), http.StatusCreated)
	htail := e.mustCreate("/v1/stream/hooks/1", textPlain, "x")
	h := rc.wait(1)
	e.mustCreate("/v1/stream/hooks2/1", textPlain, "x")
	if h2 := rc.wait(2); h2.body.SubscriptionID != "wh2" || h.body.SubscriptionID != "wh" {
		t.Fatalf("webhooks of %s then %s", h.body.SubscriptionID, h2.body.SubscriptionID)
	}
	e.clock.Add(1001 * time.Millisecond)
	r = e.settle("wh", "callback", h.body.CallbackToken, ackBody(h.body.WakeID, h.body.Generation, "hooks/1", htail, true))
	want(t, r, http.StatusConflict)
	if a := e.acked("wh", "hooks/1"); a == htail {
		t.Fatal("a callback after the lease moved the cursor")
	}
}

// TestMaxSubscriptionsConcurrent: creations racing each other (different
// ids, so different locks) do not pass max_subscriptions together.
func TestMaxSubscriptionsConcurrent(t *testing.T) {
	o := subOpts()
	o.Subscriptions.MaxSubscriptions = 2
	e := newEnv(t, o)
	rc := newReceiver(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do("PUT", subPath+fmt.Sprintf("c%d", i), webhookSub(fmt.Sprintf("c%d/*", i), rc.url()))
			mu.Lock()
			codes[r.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[http.StatusCreated] != 2 || codes[http.StatusTooManyRequests] != 14 {
		t.Fatalf("16 concurrent creations with max_subscriptions 2: %v", codes)
	}
}

// TestReconfirmNeedsWholeScope: re-confirming a subscription (PUT with
// the same configuration) answers with every link, so it takes the scope
// GET takes, explicit streams added since included.
func TestReconfirmNeedsWholeScope(t *testing.T) {
	o := subOpts()
	o.PublicRead, o.PublicWrite = false, false
	e := newEnv(t, o)
	rc := newReceiver(t)
	mk := tokenMaker(t, e)
	pubEvents := mk(auth.PurposePublish, "ds.events.*")
	body := webhookSub("events/*", rc.url())
	e.token = pubEvents
	want(t, e.do("PUT", subPath+"t", body), http.StatusCreated)
	e.token = hubtest.AdminToken
	want(t, e.do("POST", subPath+"t/streams", `{"streams":["secret/x"]}`), http.StatusNoContent)
	e.token = pubEvents
	want(t, e.do("GET", subPath+"t", ""), http.StatusForbidden)
	r := e.do("PUT", subPath+"t", body)
	if strings.Contains(r.body, "secret/x") || r.StatusCode != http.StatusForbidden {
		t.Fatalf("re-confirming with a token that may not read the whole subscription: %d %s", r.StatusCode, r.body)
	}
}

// TestWebhookURLRejectedEmbeddedIPv4: the IPv6 forms that embed an IPv4
// address besides the mapped one (IPv4-compatible ::a.b.c.d, deprecated;
// IPv4-translated ::ffff:0:a.b.c.d, SIIT) are refused as the mapped form
// is: a host with a translator or such a route reaches the IPv4 address.
func TestWebhookURLRejectedEmbeddedIPv4(t *testing.T) {
	e := newEnv(t, publicOpts())
	for i, u := range []string{
		"https://[::127.0.0.1]/", "https://[::7f00:1]/", "https://[::169.254.169.254]/", "https://[::10.0.0.1]/",
		"https://[::ffff:0:127.0.0.1]/", "https://[::ffff:0:a9fe:a9fe]/", "https://[::ffff:0:192.168.0.1]/",
		"https://[0:0:0:0:0:ffff:7f00:1]/", "https://[::ffff:a9fe:a9fe]/",
	} {
		r := e.do("PUT", subPath+fmt.Sprintf("ssrf%d", i), webhookSub("x/*", u))
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "WEBHOOK_URL_REJECTED") {
			t.Errorf("%s: %d %s", u, r.StatusCode, r.body)
		}
	}
}

// wantError checks that r is the JSON error {"error":{"code","message"}}
// with status and code.
func wantError(t *testing.T, what string, r resp, status int, code string) {
	t.Helper()
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if r.StatusCode != status || json.Unmarshal([]byte(r.body), &b) != nil || b.Error.Code != code || b.Error.Message == "" {
		t.Errorf("%s: %d %q, want %d with code %s", what, r.StatusCode, r.body, status, code)
		return
	}
	if ct := r.h("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
}

// TestSubscriptionHostileInput: oversized, malformed and odd requests get
// the documented status and JSON error shape, none panics, and nothing is
// made of them.
func TestSubscriptionHostileInput(t *testing.T) {
	o := subOpts()
	o.MaxBodyBytes = 4096
	e := newEnv(t, o)
	rc := newReceiver(t)
	u := rc.url()
	put := func(id, body string) resp {
		return e.do("PUT", subPath+id, body, "Content-Type", "application/json")
	}
	seg := func(n int) string { return strings.TrimSuffix(strings.Repeat("s/", n), "/") }
	for name, c := range map[string]struct {
		body, code string
		status     int
	}{
		"too large":               {`{"type":"webhook","description":"` + strings.Repeat("x", 5000) + `"}`, "TOO_LARGE", 413},
		"empty":                   {``, "BAD_JSON", 400},
		"null":                    {`null`, "BAD_REQUEST", 400},
		"array":                   {`[]`, "BAD_JSON", 400},
		"string":                  {`"webhook"`, "BAD_JSON", 400},
		"trailing":                {webhookSub("a/*", u) + `{}`, "BAD_JSON", 400},
		"streams not strings":     {`{"type":"webhook","streams":[1],"webhook":{"url":"` + u + `"}}`, "BAD_JSON", 400},
		"lease overflow":          {webhookSub("a/*", u, `"lease_ttl_ms":1e30`), "BAD_JSON", 400},
		"lease negative":          {webhookSub("a/*", u, `"lease_ttl_ms":-1`), "BAD_REQUEST", 400},
		"webhook null":            {`{"type":"webhook","pattern":"a/*","webhook":null}`, "BAD_REQUEST", 400},
		"both targets":            {`{"type":"webhook","pattern":"a/*","webhook":{"url":"` + u + `"},"wake_stream":"w"}`, "BAD_REQUEST", 400},
		"reserved wake stream":    {`{"type":"pull-wake","pattern":"a/*","wake_stream":"__ds/x"}`, "BAD_REQUEST", 400},
		"slash wake stream":       {`{"type":"pull-wake","pattern":"a/*","wake_stream":"///"}`, "BAD_REQUEST", 400},
		"reserved stream":         {`{"type":"webhook","streams":["/__ds/subscriptions/x"],"webhook":{"url":"` + u + `"}}`, "BAD_REQUEST", 400},
		"long stream":             {`{"type":"webhook","streams":["` + strings.Repeat("%", 100) + `"],"webhook":{"url":"` + u + `"}}`, "BAD_REQUEST", 400},
		"reserved pattern":        {webhookSub("__ds/**", u), "BAD_REQUEST", 400},
		"slash pattern":           {webhookSub("/", u), "BAD_REQUEST", 400},
		"33 segments":             {webhookSub(seg(33), u), "BAD_REQUEST", 400},
		"pattern 1025 bytes":      {webhookSub("*/"+strings.Repeat("a", 1023), u), "BAD_REQUEST", 400},
		"pattern prefix too long": {webhookSub(strings.Repeat("a", 300)+"/*", u), "BAD_REQUEST", 400},
		"long description":        {webhookSub("a/*", u, `"description":"`+strings.Repeat("d", 1025)+`"`), "BAD_REQUEST", 400},
		"unknown type":            {`{"type":"webhook\u0000","pattern":"a/*"}`, "BAD_REQUEST", 400},
		"deep nesting":            {`{"type":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`, "BAD_JSON", 400},
	} {
		wantError(t, name, put("h", c.body), c.status, c.code)
	}
	// At the limits: 32 segments, 1,024 bytes.
	want(t, put("seg32", webhookSub(seg(32), u)), http.StatusCreated)
	want(t, put("len1024", webhookSub("*/"+strings.Repeat("a", 1022), u)), http.StatusCreated)

	// Ids.
	for name, id := range map[string]string{
		"129 bytes": strings.Repeat("i", 129), "NUL": "a%00b", "percent": "a%25b", "space": "a%20b",
		"non-ASCII": "%C3%A9", "slash-dot": "a%2F..", "empty": "",
	} {
		wantError(t, "id "+name, put(id, webhookSub("a/*", u)), 400, "BAD_REQUEST")
	}
	want(t, put(strings.Repeat("i", 128), webhookSub("a/*", u)), http.StatusCreated)
	want(t, put("a.b:c-d_e", webhookSub("a/*", u)), http.StatusCreated)
	// "%2F" is a path separator once decoded: an id and a path that is no
	// control API.
	wantError(t, "encoded slash PUT", put("x%2Fy", webhookSub("a/*", u)), 400, "BAD_REQUEST")
	wantError(t, "encoded slash GET", e.do("GET", subPath+"x%2Fy", ""), 404, "NOT_FOUND")
	wantError(t, "missing", e.do("GET", subPath+"nope", ""), 404, "SUBSCRIPTION_NOT_FOUND")
	wantError(t, "method", e.do("PATCH", subPath+"h", "{}"), 405, "METHOD_NOT_ALLOWED")
	wantError(t, "streams method", e.do("GET", subPath+"seg32/streams", ""), 405, "METHOD_NOT_ALLOWED")

	// Membership.
	wantError(t, "streams not a list", e.do("POST", subPath+"seg32/streams", `{"streams":"a"}`), 400, "BAD_JSON")
	wantError(t, "streams reserved", e.do("POST", subPath+"seg32/streams", `{"streams":["__ds"]}`), 400, "BAD_REQUEST")
	wantError(t, "streams of a missing one", e.do("POST", subPath+"nope/streams", `{"streams":["a"]}`), 404, "SUBSCRIPTION_NOT_FOUND")
	want(t, e.do("DELETE", subPath+"seg32/streams/never%2Flinked", ""), http.StatusNoContent)

	// Settling without a wake.
	wantError(t, "callback without a token", e.do("POST", subPath+"seg32/callback", `{}`), 401, "UNAUTHORIZED")
	wantError(t, "callback with junk", e.settle("seg32", "callback", "junk", `{}`), 401, "TOKEN_INVALID")
	wantError(t, "callback with junk body", e.settle("seg32", "callback", "junk", `{"acks":7}`), 400, "BAD_JSON")
	wantError(t, "claim of a webhook", e.do("POST", subPath+"seg32/claim", `{"worker":"w"}`), 400, "BAD_REQUEST")
	wantError(t, "claim long worker", e.do("POST", subPath+"seg32/claim", `{"worker":"`+strings.Repeat("w", 257)+`"}`), 400, "BAD_REQUEST")
	wantError(t, "claim of a missing one", e.do("POST", subPath+"nope/claim", `{"worker":"w"}`), 404, "SUBSCRIPTION_NOT_FOUND")
	wantError(t, "ack of a missing one", e.settle("nope", "ack", "junk", `{}`), 404, "SUBSCRIPTION_NOT_FOUND")
	wantError(t, "reserved miss", e.do("GET", "/v1/stream/__ds/other", ""), 404, "NOT_FOUND")
}

// TestAckHostile: acks past the tail (an offset another stream reached),
// of unlinked streams, of sentinels or junk, backwards, or too many, are
// 409 INVALID_OFFSET and apply none of the request's acks; a token of one
// subscription does not settle another of the same generation.
func TestAckHostile(t *testing.T) {
	o := subOpts()
	o.Subscriptions.MaxStreams = 3
	e := newEnv(t, o)
	e.mustCreate("/v1/stream/wake/h", "application/json", "[]")
	want(t, e.do("PUT", subPath+"h", `{"type":"pull-wake","streams":["jobs/a","jobs/b"],"wake_stream":"wake/h"}`), http.StatusCreated)
	want(t, e.do("PUT", subPath+"h2", `{"type":"pull-wake","streams":["jobs/a"],"wake_stream":"wake/h"}`), http.StatusCreated)
	ta := e.mustCreate("/v1/stream/jobs/a", "application/json", `{"j":1}`)
	tb := e.mustCreate("/v1/stream/jobs/b", "application/json", `{"j":2}`)
	later := e.mustCreate("/v1/stream/other/x", "application/json", `{"j":3}`)
	waitUntil(t, "wakes", func() bool { return len(e.wakeEvents("/v1/stream/wake/h", "h2")) == 1 })
	r, c := e.claim("h", "w1")
	want(t, r, http.StatusOK)
	r, c2 := e.claim("h2", "w1")
	want(t, r, http.StatusOK)
	if c.Generation != c2.Generation {
		t.Fatalf("generations %d and %d: the test wants them equal", c.Generation, c2.Generation)
	}
	ack := func(acks ...[2]string) string {
		var list []map[string]string
		for _, a := range acks {
			list = append(list, map[string]string{"stream": a[0], "offset": a[1]})
		}
		b, _ := json.Marshal(map[string]any{"wake_id": c.WakeID, "generation": c.Generation, "acks": list})
		return string(b)
	}
	for name, body := range map[string]string{
		"past the tail":       ack([2]string{"jobs/a", ta}, [2]string{"jobs/b", later}),
		"unlinked":            ack([2]string{"jobs/a", ta}, [2]string{"other/x", later}),
		"reserved":            ack([2]string{"__ds/subscriptions/h", ta}),
		"start sentinel":      ack([2]string{"jobs/a", "-1"}),
		"now sentinel":        ack([2]string{"jobs/a", "now"}),
		"junk":                ack([2]string{"jobs/a", "0000000000000001_000000000000000x"}),
		"largest":             ack([2]string{"jobs/a", "9999999999999999_0000000000000000"}),
		"overflow":            ack([2]string{"jobs/a", "99999999999999999_000000000000000"}),
		"too many":            ack([2]string{"jobs/a", ta}, [2]string{"jobs/a", ta}, [2]string{"jobs/a", ta}, [2]string{"jobs/a", ta}),
		"empty stream":        ack([2]string{"", ta}),
		"another's wake":      strings.Replace(ack([2]string{"jobs/a", ta}), c.WakeID, c2.WakeID, 1),
		"next generation":     strings.Replace(ack([2]string{"jobs/a", ta}), fmt.Sprintf(`"generation":%d`, c.Generation), fmt.Sprintf(`"generation":%d`, c.Generation+1), 1),
		"generation negative": strings.Replace(ack([2]string{"jobs/a", ta}), fmt.Sprintf(`"generation":%d`, c.Generation), `"generation":-1`, 1),
	} {
		r := e.settle("h", "ack", c.Token, body)
		switch name {
		case "another's wake", "next generation":
			wantError(t, name, r, 409, "FENCED")
		case "generation negative":
			wantError(t, name, r, 400, "BAD_JSON")
		default:
			wantError(t, name, r, 409, "INVALID_OFFSET")
		}
	}
	if a := e.acked("h", "jobs/a"); a == ta {
		t.Fatal("a refused request moved jobs/a")
	}
	// A token of h2 (same generation) does not settle h, nor h's of h2.
	wantError(t, "h2's token on h", e.settle("h", "ack", c2.Token, ack([2]string{"jobs/a", ta})), 401, "TOKEN_INVALID")
	wantError(t, "h's token on h2", e.settle("h2", "release", c.Token, `{"wake_id":"`+c.WakeID+`","generation":1}`), 401, "TOKEN_INVALID")
	// Paths with their slashes, through "path": taken.
	b, _ := json.Marshal(map[string]any{"wake_id": c.WakeID, "generation": c.Generation,
		"acks": []map[string]string{{"path": "/jobs/a/", "offset": ta}, {"stream": "jobs/b", "offset": tb}}})
	want(t, e.settle("h", "ack", c.Token, string(b)), http.StatusOK)
	if e.acked("h", "jobs/a") != ta || e.acked("h", "jobs/b") != tb {
		t.Fatalf("acks not applied: %+v", e.sub("h").Streams)
	}
	// Cursors never go back.
	wantError(t, "backwards", e.settle("h", "ack", c.Token, ack([2]string{"jobs/b", ta})), 409, "INVALID_OFFSET")
}

// TestClaimRace: two workers claiming at once, many times: exactly one
// wins each round, the loser is 409 ALREADY_CLAIMED naming the winner, and
// the loser's stale token from an earlier round never settles.
func TestClaimRace(t *testing.T) {
	e := newEnv(t, subOpts())
	e.mustCreate("/v1/stream/wake/r", "application/json", "[]")
	want(t, e.do("PUT", subPath+"r", `{"type":"pull-wake","pattern":"race/*","wake_stream":"wake/r"}`), http.StatusCreated)
	var old []claimed
	for round := range 8 {
		e.mustCreate("/v1/stream/race/"+strconv.Itoa(round), "application/json", `{"r":1}`)
		waitUntil(t, "the wake", func() bool { return len(e.wakeEvents("/v1/stream/wake/r", "r")) == round+1 })
		var wg sync.WaitGroup
		var mu sync.Mutex
		var wins []claimed
		busy := 0
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, c := e.claim("r", fmt.Sprintf("w%d", w))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case r.StatusCode == http.StatusOK:
					wins = append(wins, c)
				case r.StatusCode == http.StatusConflict && strings.Contains(r.body, `"ALREADY_CLAIMED"`):
					busy++
				default:
					t.Errorf("claim: %d %s", r.StatusCode, r.body)
				}
			}()
		}
		wg.Wait()
		if len(wins) != 1 || busy != 1 {
			t.Fatalf("round %d: %d claims won, %d busy", round, len(wins), busy)
		}
		c := wins[0]
		for _, o := range old { // every earlier round's token is stale
			wantError(t, "stale token", e.settle("r", "ack", o.Token, ackBody(c.WakeID, c.Generation, "race/"+strconv.Itoa(round), c.Streams[len(c.Streams)-1].Tail, true)), 409, "FENCED")
		}
		var acks []map[string]string
		for _, s := range c.Streams {
			acks = append(acks, map[string]string{"stream": s.Path, "offset": s.Tail})
		}
		b, _ := json.Marshal(map[string]any{"wake_id": c.WakeID, "generation": c.Generation, "done": true, "acks": acks})
		want(t, e.settle("r", "ack", c.Token, string(b)), http.StatusOK)
		old = append(old, c)
	}
}

// TestDeleteWhileWebhookInFlight: a subscription deleted (and made again
// under its id) while its webhook request is in flight: the answer that
// comes afterwards, even {"done":true}, changes nothing of the new one,
// whose own wakes go on; the old callback token is refused.
func TestDeleteWhileWebhookInFlight(t *testing.T) {
	e := newEnv(t, subOpts())
	rc := newReceiver(t)
	hold := make(chan struct{})
	var once sync.Once
	rc.setAnswer(func(h *hook) (int, string) {
		if h.body.Generation == 1 && h.body.Streams[0].Tail != "" {
			once.Do(func() { <-hold })
		}
		return http.StatusOK, `{"done":true}`
	})
	body := webhookSub("fl/*", rc.url())
	want(t, e.do("PUT", subPath+"fl", body), http.StatusCreated)
	t1 := e.mustCreate("/v1/stream/fl/1", textPlain, "x")
	h := rc.wait(1) // the request is in flight, held
	want(t, e.do("DELETE", subPath+"fl", ""), http.StatusNoContent)
	want(t, e.do("PUT", subPath+"fl", body), http.StatusCreated)
	t2 := e.mustAppend("/v1/stream/fl/1", textPlain, "y")
	close(hold)
	h2 := rc.wait(2) // the new subscription's first wake
	if h2.body.WakeID == h.body.WakeID || h2.body.Generation != 1 || h2.body.Streams[0].Acked != t1 || h2.body.Streams[0].Tail != t2 {
		t.Fatalf("the new subscription's wake: %+v (old %+v)", h2.body, h.body)
	}
	waitUntil(t, "the done answer applied", func() bool { return e.acked("fl", "fl/1") == t2 })
	wantError(t, "the old token", e.settle("fl", "callback", h.body.CallbackToken, ackBody(h.body.WakeID, 1, "fl/1", t1, true)), 401, "TOKEN_INVALID")
	time.Sleep(50 * time.Millisecond)
	if n := rc.count(); n != 2 {
		t.Fatalf("%d webhook requests, want 2", n)
	}
}

// TestSubscriptionViewPathsRefused: paths under the native views' prefix
// (_topics/) are read-only views, never streams a subscription sees
// appends to or writes its wakes into: linking one (explicitly, as the
// wake stream, or by a pattern rooted there) is 400, as under __ds/,
// rather than a subscription that silently never wakes.
func TestSubscriptionViewPathsRefused(t *testing.T) {
	e := newEnv(t, subOpts())
	rc := newReceiver(t)
	u := rc.url()
	for name, body := range map[string]string{
		"stream":      `{"type":"webhook","streams":["_topics/orders.created"],"webhook":{"url":"` + u + `"}}`,
		"the prefix":  `{"type":"webhook","streams":["/_topics/"],"webhook":{"url":"` + u + `"}}`,
		"wake stream": `{"type":"pull-wake","pattern":"jobs/*","wake_stream":"_topics/w"}`,
		"pattern":     webhookSub("_topics/*", u),
		"pattern **":  webhookSub("_topics/**", u),
	} {
		wantError(t, name, e.do("PUT", subPath+"v", body), 400, "BAD_REQUEST")
	}
	want(t, e.do("PUT", subPath+"ok", webhookSub("jobs/*", u)), http.StatusCreated)
	wantError(t, "added", e.do("POST", subPath+"ok/streams", `{"streams":["a","_topics/orders.x"]}`), 400, "BAD_REQUEST")
	// A name that only starts like the prefix is a stream.
	want(t, e.do("POST", subPath+"ok/streams", `{"streams":["_topicsx/a"]}`), http.StatusNoContent)

	// A prefix of several segments: a pattern rooted inside it is
	// refused, one above it (which matches other streams too) is not.
	o := subOpts()
	o.NativePath = "views/native"
	e2 := newEnv(t, o)
	wantError(t, "deep pattern", e2.do("PUT", subPath+"v", webhookSub("views/native/*", u)), 400, "BAD_REQUEST")
	wantError(t, "deep stream", e2.do("PUT", subPath+"v", `{"type":"webhook","streams":["views/native/a.b"],"webhook":{"url":"`+u+`"}}`), 400, "BAD_REQUEST")
	want(t, e2.do("PUT", subPath+"v", webhookSub("views/**", u)), http.StatusCreated)
}

// TestReleaseClaimRace: a worker releasing while another claims: the
// release is taken, the claim either loses to the holder (409
// ALREADY_CLAIMED) or wins the wake the release made; either way the
// second worker then holds a wake of a newer generation, and the
// releaser's token settles nothing.
func TestReleaseClaimRace(t *testing.T) {
	e := newEnv(t, subOpts())
	e.mustCreate("/v1/stream/wake/rr", "application/json", "[]")
	want(t, e.do("PUT", subPath+"rr", `{"type":"pull-wake","pattern":"rr/*","wake_stream":"wake/rr"}`), http.StatusCreated)
	e.mustCreate("/v1/stream/rr/1", "application/json", `{"r":1}`)
	waitUntil(t, "the wake", func() bool { return len(e.wakeEvents("/v1/stream/wake/rr", "rr")) == 1 })
	for round := range 6 {
		r, a := e.claim("rr", "a")
		want(t, r, http.StatusOK)
		var wg sync.WaitGroup
		var rel, cl resp
		var b claimed
		wg.Add(2)
		go func() {
			defer wg.Done()
			rel = e.settle("rr", "release", a.Token, fmt.Sprintf(`{"wake_id":%q,"generation":%d}`, a.WakeID, a.Generation))
		}()
		go func() { defer wg.Done(); cl, b = e.claim("rr", "b") }()
		wg.Wait()
		want(t, rel, http.StatusNoContent)
		switch {
		case cl.StatusCode == http.StatusOK:
		case cl.StatusCode == http.StatusConflict && strings.Contains(cl.body, `"ALREADY_CLAIMED"`):
			cl, b = e.claim("rr", "b")
			want(t, cl, http.StatusOK)
		default:
			t.Fatalf("round %d: claim %d %s", round, cl.StatusCode, cl.body)
		}
		if b.Generation <= a.Generation {
			t.Fatalf("round %d: b holds generation %d after a's %d", round, b.Generation, a.Generation)
		}
		wantError(t, "the releaser's token", e.settle("rr", "ack", a.Token, ackBody(b.WakeID, b.Generation, "rr/1", b.Streams[0].Tail, true)), 409, "FENCED")
		// b gives it back for the next round.
		want(t, e.settle("rr", "release", b.Token, fmt.Sprintf(`{"wake_id":%q,"generation":%d}`, b.WakeID, b.Generation)), http.StatusNoContent)
	}
}

// TestWebhookClientClosedAtShutdown: the webhook client's idle
// connections (a goroutine or two each) go when the hub shuts down, not
// when the receiver or the idle timeout ends them.
func TestWebhookClientClosedAtShutdown(t *testing.T) {
	rc := newReceiver(t) // outlives the hub: its Cleanup runs last
	e := newEnv(t, subOpts())
	want(t, e.do("PUT", subPath+"sd", webhookSub("sd/*", rc.url())), http.StatusCreated)
	e.mustCreate("/v1/stream/sd/1", textPlain, "x")
	rc.wait(1)
	persistConns := func() int {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections() // the test's own clients
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:runtime.Stack(buf, true)]), "net/http.(*persistConn).readLoop")
	}
	waitUntil(t, "the webhook connection idle", func() bool { return persistConns() > 0 })
	e.th.API.Shutdown()
	waitUntil(t, "the webhook client's connections closed", func() bool { return persistConns() == 0 })
}
