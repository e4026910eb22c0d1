package durable_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// TestSubscriptionsSurviveRestart: on bolt, a restart keeps every
// subscription with its cursors, its generation and lease (a claim token
// from before it still acks after), the webhook signing key (same kid,
// same JWKS) and a webhook retry that was due: the new process delivers
// it.
func TestSubscriptionsSurviveRestart(t *testing.T) {
	e := newEnv(t, subOpts())
	rc := newReceiver(t)
	rc.setAnswer(func(*hook) (int, string) { return 503, "" })
	e.mustCreate("/v1/stream/wake/r", "application/json", "[]")
	want(t, e.do("PUT", subPath+"pw", `{"type":"pull-wake","streams":["rs/p"],"wake_stream":"wake/r","lease_ttl_ms":60000}`), http.StatusCreated)
	want(t, e.do("PUT", subPath+"wh", webhookSub("rs/w/*", rc.url())), http.StatusCreated)
	e.mustCreate("/v1/stream/rs/p", textPlain, "p")
	tailW := e.mustCreate("/v1/stream/rs/w/1", textPlain, "w")
	waitUntil(t, "a wake event", func() bool { return len(e.wakeEvents("/v1/stream/wake/r", "pw")) == 1 })
	r, c := e.claim("pw", "w1")
	want(t, r, http.StatusOK)
	first := rc.wait(1)
	waitUntil(t, "status failed", func() bool { return e.sub("wh").Status == "failed" })
	keys := e.jwks()
	before := e.sub("pw")

	rc.setAnswer(func(*hook) (int, string) { return 200, `{"done":true}` })
	e.restart()

	if k := e.jwks(); len(k) != 1 || k[0] != keys[0] {
		t.Fatalf("JWKS after restart %v, before %v", k, keys)
	}
	after := e.sub("pw")
	if after.Generation != before.Generation || len(after.Streams) != 1 || after.Streams[0] != before.Streams[0] {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	r, _ = e.claim("pw", "w2")
	want(t, r, http.StatusConflict) // w1 still holds the lease
	r = e.settle("pw", "ack", c.Token, ackBody(c.WakeID, c.Generation, "rs/p", c.Streams[0].Tail, true))
	want(t, r, http.StatusOK)
	if a := e.acked("pw", "rs/p"); a != c.Streams[0].Tail {
		t.Fatalf("acked %q", a)
	}
	// The retry was persisted: the new process sends it when due.
	e.clock.Add(2 * time.Second)
	h := rc.wait(2)
	if h.body.WakeID != first.body.WakeID {
		t.Fatalf("after restart the retry sent wake %q, want %q", h.body.WakeID, first.body.WakeID)
	}
	verify(t, h, keys)
	waitUntil(t, "the auto-ack after restart", func() bool { return e.acked("wh", "rs/w/1") == tailW })
}

// TestSubscriptionTokens: without public access, managing a subscription
// takes a publish token whose scope covers every stream it can link (its
// pattern's literal prefix, its explicit streams, its wake stream);
// reading it and claiming take a stream (or publish) token with that
// scope.
func TestSubscriptionTokens(t *testing.T) {
	o := subOpts()
	o.PublicRead, o.PublicWrite = false, false
	e := newEnv(t, o)
	rc := newReceiver(t)
	tokens := auth.NewStore(e.th.Store)
	mk := func(p auth.Purpose, topics ...string) string {
		s, _, err := tokens.Create(context.Background(), auth.CreateOptions{Purpose: p, Topics: topics})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pubEvents := mk(auth.PurposePublish, "ds.events.*")
	pubOther := mk(auth.PurposePublish, "ds.other.*")
	readEvents := mk(auth.PurposeStream, "ds.events.*", "ds.wake.*")
	pubAll := mk(auth.PurposePublish, "ds.events.*", "ds.wake.*")
	body := webhookSub("events/*", rc.url())

	want(t, e.do("PUT", subPath+"t", body), http.StatusUnauthorized)
	e.token = pubOther
	want(t, e.do("PUT", subPath+"t", body), http.StatusForbidden)
	e.token = readEvents
	want(t, e.do("PUT", subPath+"t", body), http.StatusForbidden)
	e.token = pubEvents
	want(t, e.do("PUT", subPath+"t", `{"type":"webhook","pattern":"**","webhook":{"url":"`+rc.url()+`"}}`), http.StatusForbidden)
	want(t, e.do("PUT", subPath+"t", `{"type":"webhook","pattern":"events/*","streams":["other/x"],"webhook":{"url":"`+rc.url()+`"}}`), http.StatusForbidden)
	want(t, e.do("PUT", subPath+"t", body), http.StatusCreated)
	want(t, e.do("POST", subPath+"t/streams", `{"streams":["other/x"]}`), http.StatusForbidden)
	e.token = readEvents
	want(t, e.do("GET", subPath+"t", ""), http.StatusOK)
	want(t, e.do("DELETE", subPath+"t", ""), http.StatusForbidden)
	e.token = pubOther
	want(t, e.do("GET", subPath+"t", ""), http.StatusForbidden)
	want(t, e.do("GET", subPath+"none", ""), http.StatusForbidden) // which ids exist is not told
	e.token = hubtest.AdminToken
	want(t, e.do("GET", subPath+"none", ""), http.StatusNotFound)
	// Pull-wake: the wake stream is in the scope; claiming takes reading.
	e.token = pubEvents
	pw := `{"type":"pull-wake","pattern":"events/*","wake_stream":"wake/t"}`
	want(t, e.do("PUT", subPath+"p", pw), http.StatusForbidden)
	e.token = pubAll
	e.mustCreate("/v1/stream/wake/t", "application/json", "[]")
	want(t, e.do("PUT", subPath+"p", pw), http.StatusCreated)
	e.mustCreate("/v1/stream/events/1", textPlain, "x")
	e.token = pubOther
	r, _ := e.claim("p", "w")
	want(t, r, http.StatusForbidden)
	e.token = readEvents
	waitUntil(t, "a wake", func() bool { return len(e.wakeEvents("/v1/stream/wake/t", "p")) == 1 })
	r, c := e.claim("p", "w")
	want(t, r, http.StatusOK)
	// The claim token is what acks: no ssehub token is needed, and an
	// ssehub token is no claim token.
	e.token = ""
	want(t, e.settle("p", "ack", readEvents, ackBody(c.WakeID, c.Generation, "events/1", c.Streams[0].Tail, true)), http.StatusUnauthorized)
	want(t, e.settle("p", "ack", c.Token, ackBody(c.WakeID, c.Generation, "events/1", c.Streams[0].Tail, true)), http.StatusOK)
	// The JWKS is public.
	want(t, e.do("GET", "/v1/stream/__ds/jwks.json", ""), http.StatusOK)
}
