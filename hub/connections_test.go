package hub

import (
	"context"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/memory"
)

// connHub runs a hub over a memory store for the Connections tests.
func connHub(t *testing.T, opts Options) *Hub {
	t.Helper()
	store := memory.New(memory.Options{})
	h, err := New(context.Background(), store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = store.Close() })
	return h
}

func connPublish(t *testing.T, h *Hub, topic string, n int) uint64 {
	t.Helper()
	var last uint64
	for range n {
		res, err := h.Publish(context.Background(), []*ssehub.Event{{Topic: topic, Data: []byte(`{}`)}})
		if err != nil {
			t.Fatal(err)
		}
		last = res[0].ID
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.Head() < last {
		if time.Now().After(deadline) {
			t.Fatalf("the live feed did not reach %d", last)
		}
		time.Sleep(time.Millisecond)
	}
	return last
}

func connOf(t *testing.T, h *Hub, stream string) Connection {
	t.Helper()
	for _, c := range h.Connections() {
		if c.Stream == stream {
			return c
		}
	}
	t.Fatalf("no connection of stream %q in %+v", stream, h.Connections())
	return Connection{}
}

func TestConnections(t *testing.T) {
	h := connHub(t, Options{QueueSize: 8})
	connPublish(t, h, "a.x", 3)
	if got := h.Connections(); len(got) != 0 {
		t.Fatalf("no subscription yet: %+v", got)
	}
	since := time.Now().Add(-time.Minute)
	live, err := h.Subscribe(SubscribeOptions{Context: WithLabels(context.Background(), Labels{Stream: "events", Client: "192.0.2.1", Since: since}),
		Filter: ssehub.MustFilter("a.*"), Format: format.Raw, Credential: &Credential{ID: "tok_1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	unlabelled, err := h.Subscribe(SubscribeOptions{Filter: ssehub.All(), EpochIDs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer unlabelled.Close()
	got := h.Connections()
	if len(got) != 2 {
		t.Fatalf("two subscriptions, Connections lists %+v", got)
	}
	c := connOf(t, h, "events")
	lag, known := c.Lag()
	if c.Client != "192.0.2.1" || !c.Since.Equal(since) || c.Filter.String() != "a.*" || c.Format != "raw" || c.TokenID != "tok_1" ||
		c.State != StateLive || !known || lag != 0 || c.Position != h.Head() {
		t.Errorf("an idle live subscription: %+v (lag %d, %v)", c, lag, known)
	}
	if u := connOf(t, h, ""); u.Format != "envelope" || !u.EpochIDs || !u.Filter.IsAll() || u.TokenID != "" || !u.Since.IsZero() {
		t.Errorf("a subscription without labels: %+v", u)
	}
	if l := (Labels{}); WithLabels(context.Background(), l).Value(labelsKey{}).(Labels).Since.IsZero() {
		t.Error("WithLabels left Since zero")
	}

	// Events its writer has not taken: queued, written up to before the
	// oldest of them.
	head := h.Head()
	connPublish(t, h, "a.y", 3)
	connPublish(t, h, "b.z", 2) // not its topics: the head moves on
	c = connOf(t, h, "events")
	lag, known = c.Lag()
	if c.State != StateQueued || c.Queued != 3 || !known || c.Position != head || lag != h.Head()-head {
		t.Errorf("3 events queued: %+v (lag %d, %v), want position %d", c, lag, known, head)
	}
	// Once written, live and caught up again.
	if b, err := live.Next(nil, 1<<20); err != nil || len(b) == 0 {
		t.Fatalf("Next: %d bytes, %v", len(b), err)
	}
	if c = connOf(t, h, "events"); c.State != StateLive || c.Queued != 0 || c.Position != h.Head() {
		t.Errorf("after Next: %+v", c)
	}

	// Past its queue it leaves the live index and catches up.
	connPublish(t, h, "a.y", 20)
	if c = connOf(t, h, "events"); c.State != StateCatchingUp {
		t.Errorf("20 events past a queue of 8: %+v, want catching up", c)
	}
	for range 10 {
		if _, err := live.Next(nil, 1<<20); err != nil {
			t.Fatal(err)
		}
		if c = connOf(t, h, "events"); c.State == StateLive {
			break
		}
	}
	if c.State != StateLive || c.Position != h.Head() {
		t.Errorf("after catching up: %+v", c)
	}

	// A revoked token's subscription is ending until it is closed; a
	// closed one is gone.
	if err := h.RevokeToken(context.Background(), "tok_1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c = connOf(t, h, "events"); c.State != StateEnding; c = connOf(t, h, "events") {
		if time.Now().After(deadline) {
			t.Fatalf("after the revocation: %+v", c)
		}
		time.Sleep(time.Millisecond)
	}
	live.Close()
	if got := h.Connections(); len(got) != 1 || got[0].Stream != "" {
		t.Errorf("after Close: %+v", got)
	}
}

// TestConnectionsReplay: a subscription that starts with a replay is
// catching up until it reaches the head.
func TestConnectionsReplay(t *testing.T) {
	h := connHub(t, Options{})
	connPublish(t, h, "r", 50)
	s, err := h.Subscribe(SubscribeOptions{Context: WithLabels(context.Background(), Labels{Stream: "replay"}),
		Filter: ssehub.MustFilter("r"), From: Resume{Set: true, Earliest: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c := connOf(t, h, "replay"); c.State != StateCatchingUp {
		t.Errorf("a replay before its first Next: %+v", c)
	}
	for range 20 {
		if _, err := s.Next(nil, 1<<20); err != nil {
			t.Fatal(err)
		}
		if connOf(t, h, "replay").State == StateLive {
			return
		}
	}
	t.Errorf("the replay never showed as live: %+v", connOf(t, h, "replay"))
}
