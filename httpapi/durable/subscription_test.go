package durable_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

const subPath = "/v1/stream/__ds/subscriptions/"

func webhookSub(pattern, url string, extra ...string) string {
	s := `{"type":"webhook","pattern":"` + pattern + `","webhook":{"url":"` + url + `"},"lease_ttl_ms":1000`
	for _, x := range extra {
		s += "," + x
	}
	return s + "}"
}

// TestWebhookDeliveryAndCallback: a webhook subscription over a glob gets
// one signed wake for an append to a matching stream (verified with the
// hub's JWKS, as a receiver does), its callback acks and ends the wake,
// the same callback again is fenced, and the next append makes the next
// generation, whose wake covers only what is new.
func TestWebhookDeliveryAndCallback(t *testing.T) {
	e := newEnv(t, subOpts())
	rc := newReceiver(t)
	e.mustCreate("/v1/stream/events/old", textPlain, "history")
	r := e.do("PUT", subPath+"s1", webhookSub("events/*", rc.url(), `"description":"d"`), "Content-Type", "application/json")
	want(t, r, http.StatusCreated)
	if strings.Contains(r.body, "secret") {
		t.Fatalf("the subscription carries a secret: %s", r.body)
	}
	v := e.sub("s1")
	if v.Webhook == nil || v.Webhook.Signing.Alg != "ed25519" || !strings.HasPrefix(v.Webhook.Signing.Kid, "ds_") ||
		v.Webhook.Signing.JWKSURL != e.url+"/v1/stream/__ds/jwks.json" {
		t.Fatalf("signing metadata: %+v", v.Webhook)
	}
	if len(v.Streams) != 1 || v.Streams[0].Path != "events/old" || v.Streams[0].LinkType != "glob" {
		t.Fatalf("backfill: %+v", v.Streams)
	}
	// Existing streams are linked at their tail: nothing to deliver yet.
	time.Sleep(100 * time.Millisecond)
	if n := rc.count(); n != 0 {
		t.Fatalf("%d webhooks before any append", n)
	}
	// Re-confirming with the same configuration is 200; another is 409.
	want(t, e.do("PUT", subPath+"s1", webhookSub("events/*", rc.url(), `"description":"d"`)), http.StatusOK)
	want(t, e.do("PUT", subPath+"s1", webhookSub("events/*", rc.url(), `"description":"other"`)), http.StatusConflict)

	tail := e.mustCreate("/v1/stream/events/a", textPlain, "one")
	e.mustCreate("/v1/stream/other/x", textPlain, "not matched")
	h := rc.wait(1)
	verify(t, h, e.jwks())
	b := h.body
	if b.SubscriptionID != "s1" || b.Generation != 1 || b.WakeID == "" || b.CallbackURL != e.url+subPath+"s1/callback" {
		t.Fatalf("wake: %+v", b)
	}
	var got string
	for _, s := range b.Streams {
		if s.Path == "events/a" {
			got = s.Tail
			if !s.HasPending {
				t.Fatalf("events/a is not pending: %+v", s)
			}
		} else if s.HasPending {
			t.Fatalf("%s is pending: %+v", s.Path, s)
		}
	}
	if got != tail {
		t.Fatalf("tail_offset %q, want the append's %q", got, tail)
	}
	// While the wake is in flight, more appends make no second wake.
	tail2 := e.mustAppend("/v1/stream/events/a", textPlain, "two")
	time.Sleep(150 * time.Millisecond)
	if n := rc.count(); n != 1 {
		t.Fatalf("%d webhooks while a wake is in flight, want 1", n)
	}
	cb := ackBody(b.WakeID, b.Generation, "events/a", tail, true)
	r = e.do("POST", b.CallbackURL[len(e.url):], cb, "Authorization", "Bearer "+b.CallbackToken)
	want(t, r, http.StatusOK)
	if strings.TrimSpace(r.body) != `{"next_wake":true,"ok":true}` {
		t.Fatalf("callback answer %s, want next_wake true: %q came after the snapshot", r.body, tail2)
	}
	if a := e.acked("s1", "events/a"); a != tail {
		t.Fatalf("acked %q, want %q", a, tail)
	}
	// The replayed callback is fenced and moves nothing.
	r = e.do("POST", b.CallbackURL[len(e.url):], ackBody(b.WakeID, b.Generation, "events/a", tail2, true), "Authorization", "Bearer "+b.CallbackToken)
	want(t, r, http.StatusConflict)
	if !strings.Contains(r.body, `"FENCED"`) {
		t.Fatalf("stale callback: %s", r.body)
	}
	if a := e.acked("s1", "events/a"); a != tail {
		t.Fatalf("a fenced callback moved the cursor to %q", a)
	}
	h2 := rc.wait(2)
	if h2.body.Generation != 2 || h2.body.WakeID == b.WakeID {
		t.Fatalf("second wake: gen %d wake %q", h2.body.Generation, h2.body.WakeID)
	}
	// The old generation's token does not settle the new wake either.
	r = e.do("POST", b.CallbackURL[len(e.url):], ackBody(h2.body.WakeID, 2, "events/a", tail2, true), "Authorization", "Bearer "+b.CallbackToken)
	want(t, r, http.StatusConflict)
	// Nor does a forged token.
	r = e.do("POST", b.CallbackURL[len(e.url):], ackBody(h2.body.WakeID, 2, "events/a", tail2, true), "Authorization", "Bearer "+h2.body.CallbackToken+"x")
	want(t, r, http.StatusUnauthorized)
	// An ack past the tail or before the cursor is refused, and nothing moves.
	r = e.do("POST", b.CallbackURL[len(e.url):], ackBody(h2.body.WakeID, 2, "events/a", "9999999999999999_0000000000000000", true), "Authorization", "Bearer "+h2.body.CallbackToken)
	want(t, r, http.StatusConflict)
	r = e.do("POST", b.CallbackURL[len(e.url):], ackBody(h2.body.WakeID, 2, "events/a", "0000000000000000_0000000000000000", true), "Authorization", "Bearer "+h2.body.CallbackToken)
	want(t, r, http.StatusConflict)
	r = e.do("POST", b.CallbackURL[len(e.url):], ackBody(h2.body.WakeID, 2, "events/a", tail2, true), "Authorization", "Bearer "+h2.body.CallbackToken)
	want(t, r, http.StatusOK)
	if strings.TrimSpace(r.body) != `{"next_wake":false,"ok":true}` {
		t.Fatalf("callback answer %s", r.body)
	}
	if a := e.acked("s1", "events/a"); a != tail2 {
		t.Fatalf("acked %q, want %q", a, tail2)
	}
}

// TestWebhookDoneAutoAcks: a receiver that answers {"done":true} has the
// wake's tails acked for it, and the next append wakes it again.
func TestWebhookDoneAutoAcks(t *testing.T) {
	e := newEnv(t, subOpts())
	rc := newReceiver(t)
	rc.setAnswer(func(*hook) (int, string) { return 200, `{"done":true}` })
	want(t, e.do("PUT", subPath+"auto", `{"type":"webhook","streams":["jobs/a"],"webhook":{"url":"`+rc.url()+`"}}`), http.StatusCreated)
	tail := e.mustCreate("/v1/stream/jobs/a", "application/json", `{"n":1}`)
	rc.wait(1)
	waitUntil(t, "the auto-ack", func() bool { return e.acked("auto", "jobs/a") == tail })
	tail2 := e.mustAppend("/v1/stream/jobs/a", "application/json", `{"n":2}`)
	h := rc.wait(2)
	if h.body.Generation != 2 {
		t.Fatalf("generation %d", h.body.Generation)
	}
	waitUntil(t, "the second auto-ack", func() bool { return e.acked("auto", "jobs/a") == tail2 })
	if v := e.sub("auto"); v.Streams[0].LinkType != "explicit" || v.Status != "active" {
		t.Fatalf("%+v", v)
	}
}

// TestWebhookRetriesAndSlowReceiver: a receiver that never answers costs
// its subscription a timed-out delivery and retries with backoff (status
// failed), while another subscription's webhook and the streams go on at
// once; once it answers, the retry delivers the same wake.
func TestWebhookRetriesAndSlowReceiver(t *testing.T) {
	o := subOpts()
	o.Subscriptions.WebhookTimeout = 300 * time.Millisecond
	o.Subscriptions.WebhookConcurrency = 2
	e := newEnv(t, o)
	stuck := make(chan struct{})
	slow := newReceiver(t)
	slow.setAnswer(func(*hook) (int, string) {
		select {
		case <-stuck:
		case <-time.After(30 * time.Second):
		}
		return 200, `{"done":true}`
	})
	fast := newReceiver(t)
	fast.setAnswer(func(*hook) (int, string) { return 200, `{"done":true}` })
	want(t, e.do("PUT", subPath+"slow", `{"type":"webhook","pattern":"s/*","webhook":{"url":"`+slow.url()+`"}}`), http.StatusCreated)
	want(t, e.do("PUT", subPath+"fast", `{"type":"webhook","pattern":"f/*","webhook":{"url":"`+fast.url()+`"}}`), http.StatusCreated)
	tail := e.mustCreate("/v1/stream/s/1", textPlain, "x")
	first := slow.wait(1)
	start := time.Now()
	for i := range 5 {
		e.mustCreate(fmt.Sprintf("/v1/stream/f/%d", i), textPlain, "y")
		fast.wait(i + 1)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("five appends and deliveries beside a stuck webhook took %v", d)
	}
	waitUntil(t, "status failed", func() bool { return e.sub("slow").Status == "failed" })
	// Retries come on the hub's clock: move it past the backoff.
	for slow.count() < 3 {
		e.clock.Add(time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	slow.setAnswer(func(*hook) (int, string) { return 200, `{"done":true}` })
	close(stuck) // the requests held answer now (their clients timed out)
	waitUntil(t, "a retry that succeeds", func() bool {
		e.clock.Add(time.Second)
		time.Sleep(20 * time.Millisecond)
		return e.sub("slow").Status == "active" && e.acked("slow", "s/1") == tail
	})
	for i := 1; i <= slow.count(); i++ {
		if h := slow.wait(i); h.body.WakeID != first.body.WakeID || h.body.Generation != first.body.Generation {
			t.Fatalf("request %d sent wake %s/%d, want the same wake %s/%d each time", i, h.body.WakeID, h.body.Generation, first.body.WakeID, first.body.Generation)
		}
	}
	if slow.count() < 3 {
		t.Fatalf("%d requests: want the first and at least two retries", slow.count())
	}
}

// TestWebhookNonOKRetries: a 500 is a failed delivery, retried.
func TestWebhookNonOKRetries(t *testing.T) {
	e := newEnv(t, subOpts())
	rc := newReceiver(t)
	rc.setAnswer(func(*hook) (int, string) { return 500, `{"done":true}` })
	want(t, e.do("PUT", subPath+"r", `{"type":"webhook","pattern":"r/**","webhook":{"url":"`+rc.url()+`"}}`), http.StatusCreated)
	e.mustCreate("/v1/stream/r/deep/er", textPlain, "x")
	rc.wait(1)
	waitUntil(t, "status failed", func() bool { return e.sub("r").Status == "failed" })
	if a := e.acked("r", "r/deep/er"); a == "" || e.sub("r").Streams[0].Acked != a {
		t.Fatal("no link")
	}
	before := e.acked("r", "r/deep/er")
	e.clock.Add(2 * time.Second)
	rc.wait(2)
	if a := e.acked("r", "r/deep/er"); a != before {
		t.Fatalf("a failed delivery's done acked: %q", a)
	}
}

// TestExplicitMembership: explicit streams are linked at their tails,
// added idempotently and removed without touching a glob link of the
// same stream.
func TestExplicitMembership(t *testing.T) {
	e := newEnv(t, subOpts())
	rc := newReceiver(t)
	e.mustCreate("/v1/stream/m/a", textPlain, "x")
	tb := e.mustCreate("/v1/stream/m/b", textPlain, "x")
	want(t, e.do("PUT", subPath+"m", `{"type":"webhook","pattern":"m/a","streams":["m/c"],"webhook":{"url":"`+rc.url()+`"}}`), http.StatusCreated)
	want(t, e.do("POST", subPath+"m/streams", `{"streams":["m/b","m/a"]}`), http.StatusNoContent)
	want(t, e.do("POST", subPath+"m/streams", `{"streams":["m/b"]}`), http.StatusNoContent)
	v := e.sub("m")
	types := map[string]string{}
	for _, s := range v.Streams {
		types[s.Path] = s.LinkType
	}
	if fmt.Sprint(types) != "map[m/a:explicit m/b:explicit m/c:explicit]" {
		t.Fatalf("links %v", types)
	}
	if e.acked("m", "m/b") != tb {
		t.Fatalf("m/b linked at %q, want its tail %q", e.acked("m", "m/b"), tb)
	}
	want(t, e.do("DELETE", subPath+"m/streams/m%2Fa", ""), http.StatusNoContent)
	want(t, e.do("DELETE", subPath+"m/streams/m/b", ""), http.StatusNoContent)
	want(t, e.do("DELETE", subPath+"m/streams/m/none", ""), http.StatusNoContent)
	types = map[string]string{}
	for _, s := range e.sub("m").Streams {
		types[s.Path] = s.LinkType
	}
	if fmt.Sprint(types) != "map[m/a:glob m/c:explicit]" {
		t.Fatalf("links after removal %v", types)
	}
}

// TestSubscriptionDeleteFencesCallbacks: once deleted, a subscription's
// callback fails (404) and a new subscription of the same id refuses the
// old token.
func TestSubscriptionDeleteFencesCallbacks(t *testing.T) {
	e := newEnv(t, subOpts())
	rc := newReceiver(t)
	body := webhookSub("d/*", rc.url())
	want(t, e.do("PUT", subPath+"d", body), http.StatusCreated)
	tail := e.mustCreate("/v1/stream/d/1", textPlain, "x")
	h := rc.wait(1)
	want(t, e.do("DELETE", subPath+"d", ""), http.StatusNoContent)
	want(t, e.do("GET", subPath+"d", ""), http.StatusNotFound)
	cb := ackBody(h.body.WakeID, h.body.Generation, "d/1", tail, true)
	want(t, e.settle("d", "callback", h.body.CallbackToken, cb), http.StatusNotFound)
	want(t, e.do("PUT", subPath+"d", body), http.StatusCreated)
	r := e.settle("d", "callback", h.body.CallbackToken, cb)
	want(t, r, http.StatusUnauthorized)
	if a := e.acked("d", "d/1"); a != tail {
		// Linked at its tail on creation, not moved by the old token.
		t.Fatalf("acked %q", a)
	}
	want(t, e.do("DELETE", subPath+"d", ""), http.StatusNoContent)
	want(t, e.do("DELETE", subPath+"d", ""), http.StatusNotFound)
}

// TestReservedPrefix: nothing under __ds is an application stream.
func TestReservedPrefix(t *testing.T) {
	e := newEnv(t, subOpts())
	for _, p := range []string{"__ds", "__ds/x", "__ds/subscriptions", "__ds/jwks"} {
		r := e.do("PUT", "/v1/stream/"+p, "x", "Content-Type", textPlain)
		want(t, r, http.StatusBadRequest)
		want(t, e.do("GET", "/v1/stream/"+p+"?offset=-1", ""), http.StatusNotFound)
		want(t, e.do("POST", "/v1/stream/"+p, "x", "Content-Type", textPlain), http.StatusNotFound)
	}
	// Percent-encoded, it is the same prefix.
	want(t, e.do("PUT", "/v1/stream/%5F%5Fds/x", "x", "Content-Type", textPlain), http.StatusBadRequest)
	want(t, e.do("PUT", "/v1/stream/%5f%5fds", "x", "Content-Type", textPlain), http.StatusBadRequest)
	// Stream paths inside bodies are refused under __ds too.
	want(t, e.do("PUT", subPath+"x", `{"type":"webhook","streams":["__ds/subscriptions/y"],"webhook":{"url":"https://example.com/"}}`), http.StatusBadRequest)
	want(t, e.do("PUT", subPath+"x", `{"type":"pull-wake","pattern":"__ds/**","wake_stream":"w"}`), http.StatusBadRequest)
	want(t, e.do("PUT", subPath+"bad%20id", `{}`), http.StatusBadRequest)
	want(t, e.do("HEAD", "/v1/stream/__ds/jwks.json", ""), http.StatusOK)
	want(t, e.do("POST", "/v1/stream/__ds/jwks.json", "", "Content-Type", textPlain), http.StatusMethodNotAllowed)
}

// TestSubscriptionValidation: malformed and oversized subscriptions.
func TestSubscriptionValidation(t *testing.T) {
	o := subOpts()
	o.Subscriptions.MaxStreams = 10
	o.Subscriptions.MaxSubscriptions = 3
	e := newEnv(t, o)
	rc := newReceiver(t)
	many := make([]string, 11)
	for i := range many {
		many[i] = fmt.Sprintf("many/%d", i)
	}
	mb, _ := json.Marshal(many)
	for name, body := range map[string]string{
		"no type":          `{"pattern":"a/*","webhook":{"url":"` + rc.url() + `"}}`,
		"bad type":         `{"type":"push","pattern":"a/*"}`,
		"no members":       `{"type":"webhook","webhook":{"url":"` + rc.url() + `"}}`,
		"no url":           `{"type":"webhook","pattern":"a/*"}`,
		"no wake stream":   `{"type":"pull-wake","pattern":"a/*"}`,
		"lease too short":  webhookSub("a/*", rc.url(), `"lease_ttl_ms":999`),
		"lease too long":   `{"type":"webhook","pattern":"a/*","webhook":{"url":"` + rc.url() + `"},"lease_ttl_ms":600001}`,
		"empty segment":    webhookSub("a//b", rc.url()),
		"too many streams": `{"type":"webhook","streams":` + string(mb) + `,"webhook":{"url":"` + rc.url() + `"}}`,
		"long pattern":     webhookSub(strings.Repeat("a/", 600)+"b", rc.url()),
		"not json":         `{"type":`,
	} {
		r := e.do("PUT", subPath+"v", body)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.StatusCode, r.body)
		}
	}
	// A pattern that matches more existing streams than max_streams.
	for i := range 11 {
		e.mustCreate(fmt.Sprintf("/v1/stream/lots/%d", i), textPlain, "x")
	}
	want(t, e.do("PUT", subPath+"lots", webhookSub("lots/*", rc.url())), http.StatusBadRequest)
	// Explicit additions past max_streams.
	want(t, e.do("PUT", subPath+"few", webhookSub("few/*", rc.url())), http.StatusCreated)
	want(t, e.do("POST", subPath+"few/streams", `{"streams":`+string(mb)+`}`), http.StatusBadRequest)
	// max_subscriptions.
	want(t, e.do("PUT", subPath+"two", webhookSub("two/*", rc.url())), http.StatusCreated)
	want(t, e.do("PUT", subPath+"three", webhookSub("three/*", rc.url())), http.StatusCreated)
	want(t, e.do("PUT", subPath+"four", webhookSub("four/*", rc.url())), http.StatusTooManyRequests)
	want(t, e.do("DELETE", subPath+"three", ""), http.StatusNoContent)
	want(t, e.do("PUT", subPath+"four", webhookSub("four/*", rc.url())), http.StatusCreated)
	// Glob links past max_streams are not made (the hub goes on).
	for i := range 12 {
		e.mustCreate(fmt.Sprintf("/v1/stream/few/%d", i), textPlain, "x")
	}
	waitUntil(t, "ten links", func() bool { return len(e.sub("few").Streams) == 10 })
	time.Sleep(100 * time.Millisecond)
	if n := len(e.sub("few").Streams); n != 10 {
		t.Fatalf("%d links, max_streams is 10", n)
	}
}

// TestPublicURL: with public_url set, callback_url and jwks_url use it,
// not the scheme and Host of the request that made the subscription.
func TestPublicURL(t *testing.T) {
	o := subOpts()
	o.Subscriptions.PublicURL = "https://hub.example/base/"
	e := newEnv(t, o)
	rc := newReceiver(t)
	want(t, e.do("PUT", subPath+"pu", webhookSub("pu/*", rc.url())), http.StatusCreated)
	if u := e.sub("pu").Webhook.Signing.JWKSURL; u != "https://hub.example/base/v1/stream/__ds/jwks.json" {
		t.Fatalf("jwks_url %q", u)
	}
	e.mustCreate("/v1/stream/pu/1", textPlain, "x")
	if u := rc.wait(1).body.CallbackURL; u != "https://hub.example/base/v1/stream/__ds/subscriptions/pu/callback" {
		t.Fatalf("callback_url %q", u)
	}
}

// TestNoSubscriberWithoutSubscriptions: the live feed's subscriber the
// subscriptions use exists only while a subscription does, so a hub
// without any counts no extra subscriber (ssehub_subscribers, the
// console's connections).
func TestNoSubscriberWithoutSubscriptions(t *testing.T) {
	e := newEnv(t, subOpts())
	rc := newReceiver(t)
	conns := func() int { return len(e.th.Hub.Connections()) }
	time.Sleep(100 * time.Millisecond)
	if n := conns(); n != 0 {
		t.Fatalf("%d hub subscribers without a subscription", n)
	}
	want(t, e.do("PUT", subPath+"one", webhookSub("one/*", rc.url())), http.StatusCreated)
	waitUntil(t, "the live feed's subscriber", func() bool { return conns() == 1 })
	e.mustCreate("/v1/stream/one/x", textPlain, "x")
	rc.wait(1)
	want(t, e.do("DELETE", subPath+"one", ""), http.StatusNoContent)
	waitUntil(t, "no subscriber", func() bool { return conns() == 0 })
}
