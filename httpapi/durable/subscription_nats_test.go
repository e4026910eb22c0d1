package durable_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/natstest"
	ssenats "github.com/ssehub/ssehub/nats"
)

// twoNATSNodes starts a NATS server and two hub nodes with subOpts on
// one JetStream stream of that name. No refresh: a store several nodes
// write (NATS) is enough to make the subscriptions read their records
// before each change.
func twoNATSNodes(t *testing.T, stream string) (*env, *env) {
	t.Helper()
	srv := natstest.Start(t, 1)
	node := func() *env {
		s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: stream, SubjectPrefix: strings.ToLower(stream),
			ReadyTimeout: 20 * time.Second, Logger: natstest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, clock: &clock{now: time.Now()}, opts: subOpts()}
		e.opts.Now = e.clock.Now
		e.startOn(s)
		return e
	}
	return node(), node()
}

// TestSubscriptionsTwoNodes: two hub nodes on one NATS store share the
// subscriptions (their records and keys are in the store's KV): one made
// through a node is read, called back and woken through the other, both
// sign with the same key, and although both nodes' live feeds see every
// append, each wake is made once (the generation is claimed with a
// create-if-absent KV key) and delivered once.
func TestSubscriptionsTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	a, b := twoNATSNodes(t, "SUBS")
	if ka, kb := a.jwks(), b.jwks(); len(ka) != 1 || len(kb) != 1 || ka[0] != kb[0] {
		t.Fatalf("the nodes sign with different keys: %v %v", ka, kb)
	}
	rc := newReceiver(t)
	want(t, a.do("PUT", subPath+"n", webhookSub("two/*", rc.url())), http.StatusCreated)
	want(t, b.do("PUT", subPath+"n", webhookSub("two/*", rc.url())), http.StatusOK)
	for round := 1; round <= 3; round++ {
		writer := []*env{a, b}[round%2]
		var tail string
		if round == 1 {
			tail = writer.mustCreate("/v1/stream/two/x", textPlain, "1")
		} else {
			tail = writer.mustAppend("/v1/stream/two/x", textPlain, fmt.Sprint(round))
		}
		h := rc.wait(round)
		verify(t, h, a.jwks())
		if h.body.Generation != uint64(round) {
			t.Fatalf("round %d: generation %d", round, h.body.Generation)
		}
		time.Sleep(400 * time.Millisecond) // both feeds have seen the append by now
		if n := rc.count(); n != round {
			t.Fatalf("round %d: %d webhook requests, want one per wake", round, n)
		}
		// Called back through the node that did not write.
		other := []*env{b, a}[round%2]
		r := other.settle("n", "callback", h.body.CallbackToken, ackBody(h.body.WakeID, h.body.Generation, "two/x", tail, true))
		if r.StatusCode != 200 {
			b1, _ := a.th.Store.Get(context.Background(), "durable_subscriptions", "n")
			t.Logf("record: %s", b1)
		}
		want(t, r, http.StatusOK)
		waitUntil(t, "the ack seen through the writer", func() bool { return writer.acked("n", "two/x") == tail })
	}
}

// TestSubscriptionsTwoNodesConcurrentChanges: both nodes add explicit
// streams to one subscription at the same instant, again and again. Each
// node reads the record, changes it and saves it; a plain write would let
// the last one win and lose the other's link. With compare-and-swap the
// loser is answered 503 (Retry-After) and sends it again: every link is
// there at the end.
func TestSubscriptionsTwoNodesConcurrentChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	a, b := twoNATSNodes(t, "SUBC")
	rc := newReceiver(t)
	want(t, a.do("PUT", subPath+"c", `{"type":"webhook","streams":["c/0"],"webhook":{"url":"`+rc.url()+`"}}`), http.StatusCreated)
	const rounds = 15
	retries := 0
	var mu sync.Mutex
	add := func(e *env, path string) {
		for {
			r := e.do("POST", subPath+"c/streams", `{"streams":["`+path+`"]}`)
			if r.StatusCode == http.StatusNoContent {
				return
			}
			if r.StatusCode != http.StatusServiceUnavailable || r.h("Retry-After") == "" {
				t.Errorf("add %s: %d %s", path, r.StatusCode, r.body)
				return
			}
			mu.Lock()
			retries++
			mu.Unlock()
		}
	}
	for i := range rounds {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); add(a, fmt.Sprintf("c/a%d", i)) }()
		go func() { defer wg.Done(); add(b, fmt.Sprintf("c/b%d", i)) }()
		wg.Wait()
	}
	got := map[string]bool{}
	for _, s := range b.sub("c").Streams {
		got[s.Path] = true
	}
	for i := range rounds {
		for _, p := range []string{fmt.Sprintf("c/a%d", i), fmt.Sprintf("c/b%d", i)} {
			if !got[p] {
				t.Errorf("link %s lost (%d links, %d retries)", p, len(got), retries)
			}
		}
	}
	t.Logf("%d links, %d requests answered 503 and sent again", len(got), retries)
}
