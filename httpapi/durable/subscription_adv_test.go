package durable_test

import (
	"context"
	"fmt"
	"net/http"
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

	// Webhook: the lease runs from the 2xx answer.
	rc := newReceiver(t)
	want(t, e.do("PUT", subPath+"wh", webhookSub("hooks/*", rc.url())), http.StatusCreated)
	htail := e.mustCreate("/v1/stream/hooks/1", textPlain, "x")
	h := rc.wait(1)
	waitUntil(t, "the delivery's outcome", func() bool { return e.sub("wh").Status == "active" && rc.count() == 1 })
	time.Sleep(50 * time.Millisecond) // the answer is recorded
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
