package durable

import (
	"context"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/natstest"
	ssenats "github.com/ssehub/ssehub/nats"
)

// TestClaimKeyIsReentrant: on a store several nodes share, a node that
// claimed a generation and then lost the race to save its record decides
// again at the next event or tick; its own claim must not lock it out for
// the claim's TTL. It did: TestSubscriptionsTwoNodes once waited 10 s for
// a first webhook that neither node would make. Another node's fresh
// claim still wins, and a stale one is taken over.
func TestClaimKeyIsReentrant(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := natstest.Start(t, 1)
	s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: "CLAIM", SubjectPrefix: "claim",
		ReadyTimeout: 20 * time.Second, Logger: natstest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	a := &subManager{kv: s, shared: true, node: randomID("n_")}
	b := &subManager{kv: s, shared: true, node: randomID("n_")}
	claim := func(m *subManager, k string, ttl time.Duration) bool {
		t.Helper()
		won, err := m.claimKey(ctx, k, "", ttl)
		if err != nil {
			t.Fatal(err)
		}
		return won
	}
	if !claim(a, "g/1", time.Minute) {
		t.Fatal("the first claim lost")
	}
	if claim(b, "g/1", time.Minute) {
		t.Fatal("another node took a fresh claim")
	}
	if !claim(a, "g/1", time.Minute) {
		t.Fatal("the node that holds the claim is locked out by it")
	}
	if claim(b, "g/1", time.Minute) {
		t.Fatal("another node took the renewed claim")
	}
	time.Sleep(20 * time.Millisecond)
	if !claim(b, "g/1", 10*time.Millisecond) {
		t.Fatal("a stale claim was not taken over")
	}
	if claim(a, "g/1", time.Minute) {
		t.Fatal("the node whose claim was taken over still wins")
	}
	// A claim written by an older version (a bare time) is read too.
	if err := s.Put(ctx, SubscriptionGenerationBucket, "g/2", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if !claim(a, "g/2", time.Minute) {
		t.Fatal("a claim from 1970 in the old format was not taken over")
	}
}
