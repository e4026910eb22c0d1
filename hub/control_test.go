package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
)

// onEnd records the calls of a subscription's OnEnd.
type onEnd struct {
	mu    sync.Mutex
	calls []error
	ch    chan error
}

func newOnEnd() *onEnd { return &onEnd{ch: make(chan error, 64)} }

func (o *onEnd) fn(err error) {
	o.mu.Lock()
	o.calls = append(o.calls, err)
	o.mu.Unlock()
	select {
	case o.ch <- err:
	default:
	}
}

func (o *onEnd) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.calls)
}

// wait returns the first OnEnd error, failing the test after deadline.
func (o *onEnd) wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-o.ch:
		return err
	case <-time.After(deadline):
		t.Fatalf("OnEnd was not called within %v", deadline)
		return nil
	}
}

// expectGone checks err is the *GoneError of topic.
func expectGone(t testing.TB, what string, err error, topic string) {
	t.Helper()
	var g *GoneError
	if !errors.As(err, &g) || g.Topic != topic || !errors.Is(err, ErrGone) {
		t.Fatalf("%s: %v, want the *GoneError of %q", what, err, topic)
	}
}

// TestDeregisterTopic: a deregistered topic ends the subscribers that named
// it (after the events due to them), not the ones that only match it by a
// prefix; new subscriptions naming it and publishes to it fail; the KV
// records it, so a new hub over the store knows it.
func TestDeregisterTopic(t *testing.T) {
	for _, kind := range storeKinds {
		for _, mode := range []string{"wait", "notify"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				ctx := context.Background()
				store := openStore(t, kind, ssehub.Retention{})
				h := newHub(t, store, Options{})
				run(t, h)
				exact := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.MustFilter("orders.created")})
				multi := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.MustFilter("orders.created", "payments")})
				named := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.MustFilter("orders.*"), Topics: []string{"orders.created"}})
				prefix := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.MustFilter("orders.*")})
				ids := publish(t, h, "orders.created", "payments", "orders.created", "orders.other")
				if err := h.DeregisterTopic(ctx, "orders.created"); err != nil {
					t.Fatal(err)
				}
				if !h.Gone("orders.created") || h.Gone("orders.other") {
					t.Fatal("Gone does not report the deregistration")
				}
				// Every event published before the deregistration is due.
				for _, c := range []struct {
					name string
					r    *reader
					want []uint64
				}{
					{"exact", exact, []uint64{ids[0], ids[2]}},
					{"multi", multi, []uint64{ids[0], ids[1], ids[2]}},
					{"named", named, []uint64{ids[0], ids[2], ids[3]}},
				} {
					err := c.r.readEnd()
					expectGone(t, c.name, err, "orders.created")
					expectIDs(t, c.name+" before its end", c.r.messages(), c.want)
					// Ended is ended: Next keeps saying so.
					if _, err := c.r.sub.Next(nil, 1024); !errors.Is(err, ErrGone) {
						t.Errorf("%s: Next after the end: %v", c.name, err)
					}
				}
				if _, err := h.Subscribe(SubscribeOptions{Filter: ssehub.MustFilter("orders.created")}); !errors.Is(err, ErrGone) {
					t.Errorf("Subscribe naming a deregistered topic: %v", err)
				}
				if _, err := h.Subscribe(SubscribeOptions{Filter: ssehub.MustFilter("payments", "orders.created"), From: Resume{Set: true, Earliest: true}}); !errors.Is(err, ErrGone) {
					t.Errorf("resuming Subscribe naming a deregistered topic: %v", err)
				}
				if _, err := h.Publish(ctx, []*ssehub.Event{{Topic: "payments", Data: []byte("x")}, {Topic: "orders.created", Data: []byte("x")}}); !errors.Is(err, ErrGone) {
					t.Errorf("publishing to a deregistered topic: %v", err)
				} else {
					expectGone(t, "publish", err, "orders.created")
				}
				// The prefix subscriber goes on.
				later := publish(t, h, "orders.other")[0]
				expectIDs(t, "prefix", prefix.readN(4), []uint64{ids[0], ids[2], ids[3], later})
				if prefix.err != nil {
					t.Fatalf("the prefix subscriber ended: %v", prefix.err)
				}
				if _, err := store.Get(ctx, DeregisteredBucket, "orders.created"); err != nil {
					t.Errorf("the KV does not record the deregistration: %v", err)
				}
				h2 := newHub(t, store, Options{})
				if !h2.Gone("orders.created") {
					t.Error("a new hub over the store does not know the deregistration")
				}
				if err := h.DeregisterTopic(ctx, "bad topic"); err == nil {
					t.Error("an invalid topic was deregistered")
				}
			})
		}
	}
}

// TestDeregisterDeliversDueEvents: events appended before a deregistration
// are due to the subscribers it ends, even when this node applies the
// deregistration before its live feed has dispatched them (the hub applies
// its own control events at once). Here the feed only starts after the
// deregistration.
func TestDeregisterDeliversDueEvents(t *testing.T) {
	for _, mode := range []string{"wait", "notify"} {
		t.Run(mode, func(t *testing.T) {
			h := newHub(t, openStore(t, "memory", ssehub.Retention{}), Options{})
			r := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.MustFilter("a", "b")})
			ids := publish(t, h, "a", "b", "a")
			if err := h.DeregisterTopic(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
			after := publish(t, h, "b")[0]
			run(t, h)
			err := r.readEnd()
			expectGone(t, "end", err, "a")
			expectIDs(t, "events before the end", r.messages(), ids)
			_ = after // after the deregistration: not due
		})
	}
}

// TestDeregisterEndsCatchUpInLogOrder: a subscriber catching up from the
// log when the deregistration is applied gets what a live one gets, the
// events before the control event, and none after it.
func TestDeregisterEndsCatchUpInLogOrder(t *testing.T) {
	for _, kind := range storeKinds {
		for _, mode := range []string{"wait", "notify"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				h := startHub(t, kind, ssehub.Retention{}, Options{})
				f := ssehub.MustFilter("a", "b")
				live := mustSubscribe(t, h, mode, SubscribeOptions{Filter: f})
				before := publish(t, h, "a", "b", "b")
				// Not read yet: it resumes from the start once the
				// deregistration and later events are in.
				replay := mustSubscribe(t, h, mode, SubscribeOptions{Filter: f, From: Resume{Set: true, Earliest: true}})
				if err := h.DeregisterTopic(context.Background(), "a"); err != nil {
					t.Fatal(err)
				}
				after := publish(t, h, "b", "b")
				waitFor(t, "the feed to dispatch everything", func() bool { return h.Head() >= after[1] })
				for name, r := range map[string]*reader{"live": live, "replay": replay} {
					expectGone(t, name, r.readEnd(), "a")
					expectIDs(t, name, r.messages(), before)
				}
			})
		}
	}
}

// TestRevokeToken: revoking a token ends its subscriptions at once (OnEnd
// once, Next returns ErrRevoked without the events still queued), leaves
// other tokens' alone, refuses new ones, and is recorded in the KV.
func TestRevokeToken(t *testing.T) {
	for _, kind := range storeKinds {
		for _, mode := range []string{"wait", "notify"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				ctx := context.Background()
				store := openStore(t, kind, ssehub.Retention{})
				h := newHub(t, store, Options{})
				run(t, h)
				e1, e2 := newOnEnd(), newOnEnd()
				r1 := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All(), Credential: &Credential{ID: "t1"}, OnEnd: e1.fn})
				r1b := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All(), Credential: &Credential{ID: "t1"}, From: Resume{Set: true, Earliest: true}})
				r2 := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All(), Credential: &Credential{ID: "t2"}, OnEnd: e2.fn})
				anon := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All()})
				ids := publish(t, h, "a", "b")
				expectIDs(t, "before", r1.readN(1)[:1], ids[:1])
				more := publish(t, h, "c", "d")
				waitFor(t, "the feed to dispatch", func() bool { return h.Head() >= more[1] })
				// r1 has b, c and d queued, r1b everything: none of it may
				// be sent once the token is revoked.
				if err := h.RevokeToken(ctx, "t1"); err != nil {
					t.Fatal(err)
				}
				if err := e1.wait(t); !errors.Is(err, ErrRevoked) {
					t.Fatalf("OnEnd: %v", err)
				}
				for name, r := range map[string]*reader{"r1": r1, "r1b": r1b} {
					out, err := r.sub.Next(nil, 1<<20)
					if !errors.Is(err, ErrRevoked) || len(out) != 0 {
						t.Errorf("%s: Next after the revocation wrote %q, %v; want nothing and ErrRevoked", name, out, err)
					}
				}
				if err := h.RevokeToken(ctx, "t1"); err != nil { // again: changes nothing
					t.Fatal(err)
				}
				if n := e1.count(); n != 1 {
					t.Errorf("OnEnd called %d times", n)
				}
				if _, err := h.Subscribe(SubscribeOptions{Filter: ssehub.All(), Credential: &Credential{ID: "t1"}}); !errors.Is(err, ErrRevoked) {
					t.Errorf("Subscribe with a revoked token: %v", err)
				}
				all := append(ids, more...)
				expectIDs(t, "t2", r2.readN(4), all)
				expectIDs(t, "anonymous", anon.readN(4), all)
				if e2.count() != 0 || r2.err != nil {
					t.Errorf("another token's subscription ended: %v", r2.err)
				}
				if _, err := store.Get(ctx, RevokedBucket, "t1"); err != nil {
					t.Errorf("the KV does not record the revocation: %v", err)
				}
				if h2 := newHub(t, store, Options{}); func() error {
					_, err := h2.Subscribe(SubscribeOptions{Filter: ssehub.All(), Credential: &Credential{ID: "t1"}})
					return err
				}() == nil {
					t.Error("a new hub over the store accepts the revoked token")
				}
				if err := h.RevokeToken(ctx, ""); err == nil {
					t.Error("an empty token id was revoked")
				}
			})
		}
	}
}

// TestRevokeWindow: Subscribes racing a RevokeToken from many goroutines
// never leave a live subscription of the revoked token: each either fails
// with ErrRevoked or is ended by the revocation (OnEnd once, Next
// ErrRevoked), and the hub keeps no guard for the token afterwards.
func TestRevokeWindow(t *testing.T) {
	h := startHub(t, "memory", ssehub.Retention{}, Options{})
	const rounds, goroutines = 40, 8
	for round := range rounds {
		token := fmt.Sprintf("w%d", round)
		type sub struct {
			s   *Subscriber
			end *onEnd
		}
		var (
			mu      sync.Mutex
			subs    []sub
			refused int
			wg      sync.WaitGroup
			revoked = make(chan struct{})
		)
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					done := false
					select {
					case <-revoked:
						done = true // one more try after the revocation
					default:
					}
					e := newOnEnd()
					opts := SubscribeOptions{Filter: ssehub.All(), Credential: &Credential{ID: token}, OnEnd: e.fn}
					if (g+i)%2 == 1 {
						opts.From = Resume{Set: true, Earliest: true}
					}
					s, err := h.Subscribe(opts)
					mu.Lock()
					switch {
					case err == nil:
						subs = append(subs, sub{s, e})
					case errors.Is(err, ErrRevoked):
						refused++
					default:
						t.Errorf("Subscribe: %v", err)
					}
					mu.Unlock()
					if done || err != nil {
						return
					}
				}
			}()
		}
		if round%2 == 0 {
			time.Sleep(time.Millisecond)
		}
		if err := h.RevokeToken(context.Background(), token); err != nil {
			t.Fatal(err)
		}
		close(revoked)
		wg.Wait()
		if refused == 0 {
			t.Fatalf("round %d: no Subscribe came after the revocation", round)
		}
		for i, s := range subs {
			if out, err := s.s.Next(nil, 1<<20); !errors.Is(err, ErrRevoked) || len(out) != 0 {
				t.Fatalf("round %d: subscription %d of the revoked token is live: Next %q, %v", round, i, out, err)
			}
			if n := s.end.count(); n != 1 {
				t.Fatalf("round %d: subscription %d: OnEnd called %d times", round, i, n)
			}
			s.s.Close()
		}
		h.mu.Lock()
		_, guarded := h.guards[token]
		h.mu.Unlock()
		if guarded {
			t.Fatalf("round %d: the hub still guards the revoked token", round)
		}
	}
	if n := h.Stats().Subscribers.Load(); n != 0 {
		t.Fatalf("%d subscribers after closing all", n)
	}
}

// TestControlAcrossHubs is the single-machine model of several nodes: two
// hubs over one store, each with its own live feed. A revocation and a
// deregistration made through hub A take effect on hub B's subscribers
// through the log, in log order.
func TestControlAcrossHubs(t *testing.T) {
	for _, kind := range storeKinds {
		for _, mode := range []string{"wait", "notify"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				ctx := context.Background()
				store := openStore(t, kind, ssehub.Retention{})
				a, b := newHub(t, store, Options{}), newHub(t, store, Options{})
				run(t, a)
				run(t, b)
				end := newOnEnd()
				tokenSub := mustSubscribe(t, b, mode, SubscribeOptions{Filter: ssehub.All(), Credential: &Credential{ID: "tb"}, OnEnd: end.fn})
				topicSub := mustSubscribe(t, b, mode, SubscribeOptions{Filter: ssehub.MustFilter("x.y", "z")})
				other := mustSubscribe(t, b, mode, SubscribeOptions{Filter: ssehub.All()})
				first := publish(t, a, "x.y", "z")
				expectIDs(t, "B's token subscriber", tokenSub.readN(2), first)

				if err := a.RevokeToken(ctx, "tb"); err != nil {
					t.Fatal(err)
				}
				if err := end.wait(t); !errors.Is(err, ErrRevoked) {
					t.Fatalf("B's OnEnd: %v", err)
				}
				if out, err := tokenSub.sub.Next(nil, 1<<20); !errors.Is(err, ErrRevoked) || len(out) != 0 {
					t.Fatalf("B's revoked subscription: Next %q, %v", out, err)
				}
				if _, err := b.Subscribe(SubscribeOptions{Filter: ssehub.All(), Credential: &Credential{ID: "tb"}}); !errors.Is(err, ErrRevoked) {
					t.Errorf("B accepts the token A revoked: %v", err)
				}

				due := publish(t, a, "x.y")
				if err := a.DeregisterTopic(ctx, "x.y"); err != nil {
					t.Fatal(err)
				}
				late := publish(t, a, "z")
				expectGone(t, "B's topic subscriber", topicSub.readEnd(), "x.y")
				expectIDs(t, "B's topic subscriber before its end", topicSub.messages(), append(first, due...))
				waitFor(t, "B to apply the deregistration", func() bool { return b.Gone("x.y") })
				if _, err := b.Publish(ctx, []*ssehub.Event{{Topic: "x.y", Data: []byte("x")}}); !errors.Is(err, ErrGone) {
					t.Errorf("B publishes to a topic A deregistered: %v", err)
				}
				if _, err := b.Subscribe(SubscribeOptions{Filter: ssehub.MustFilter("x.y")}); !errors.Is(err, ErrGone) {
					t.Errorf("B subscribes to a topic A deregistered: %v", err)
				}
				expectIDs(t, "B's other subscriber", other.readN(4), append(append(first, due...), late...))
			})
		}
	}
}

// TestTokenExpiry: a token past its ExpiresAt is refused; one that expires
// during a subscription ends it like a revocation (OnEnd, Next ErrExpired,
// nothing more sent); Close stops the expiry.
func TestTokenExpiry(t *testing.T) {
	for _, mode := range []string{"wait", "notify"} {
		t.Run(mode, func(t *testing.T) {
			h := startHub(t, "memory", ssehub.Retention{}, Options{})
			if _, err := h.Subscribe(SubscribeOptions{Filter: ssehub.All(), Credential: &Credential{ID: "old", ExpiresAt: time.Now().Add(-time.Second)}}); !errors.Is(err, ErrExpired) {
				t.Fatalf("an expired token: %v", err)
			}
			end := newOnEnd()
			r := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All(),
				Credential: &Credential{ID: "soon", ExpiresAt: time.Now().Add(300 * time.Millisecond)}, OnEnd: end.fn})
			closedEnd := newOnEnd()
			closed := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All(),
				Credential: &Credential{ID: "soon2", ExpiresAt: time.Now().Add(100 * time.Millisecond)}, OnEnd: closedEnd.fn})
			closed.sub.Close()
			ids := publish(t, h, "a")
			expectIDs(t, "before expiry", r.readN(1), ids)
			if err := end.wait(t); !errors.Is(err, ErrExpired) {
				t.Fatalf("OnEnd: %v", err)
			}
			publish(t, h, "b")
			if out, err := r.sub.Next(nil, 1<<20); !errors.Is(err, ErrExpired) || len(out) != 0 {
				t.Fatalf("Next after expiry: %q, %v", out, err)
			}
			if err := r.readEnd(); !errors.Is(err, ErrExpired) {
				t.Fatalf("the reader ended with %v", err)
			}
			time.Sleep(200 * time.Millisecond) // past the closed one's expiry
			if closedEnd.count() != 0 {
				t.Error("a closed subscription's OnEnd was called on expiry")
			}
		})
	}
}

// TestOnEndMayClose: OnEnd may close its subscription (the obvious thing
// for a caller to do); it must not deadlock the hub, whether the end comes
// from RevokeToken, from the live feed (another hub's revocation) or from
// the expiry timer.
func TestOnEndMayClose(t *testing.T) {
	store := openStore(t, "memory", ssehub.Retention{})
	a, b := newHub(t, store, Options{}), newHub(t, store, Options{})
	run(t, a)
	run(t, b)
	mk := func(h *Hub, cred *Credential) chan struct{} {
		closed := make(chan struct{})
		var s *Subscriber
		var ready sync.WaitGroup
		ready.Add(1)
		var err error
		s, err = h.Subscribe(SubscribeOptions{Filter: ssehub.All(), Credential: cred, OnEnd: func(error) {
			ready.Wait()
			s.Close()
			close(closed)
		}})
		if err != nil {
			t.Fatal(err)
		}
		ready.Done()
		return closed
	}
	viaRevoke := mk(a, &Credential{ID: "k1"})
	viaFeed := mk(b, &Credential{ID: "k1"})
	viaExpiry := mk(a, &Credential{ID: "k2", ExpiresAt: time.Now().Add(50 * time.Millisecond)})
	done := make(chan error, 1)
	go func() { done <- a.RevokeToken(context.Background(), "k1") }()
	for name, ch := range map[string]chan struct{}{"RevokeToken": viaRevoke, "the live feed": viaFeed, "expiry": viaExpiry} {
		select {
		case <-ch:
		case <-time.After(deadline):
			t.Fatalf("OnEnd closing its subscription (ended by %s) deadlocked", name)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(deadline):
		t.Fatal("RevokeToken deadlocked")
	}
	// The hubs still work.
	r := mustSubscribe(t, b, "wait", SubscribeOptions{Filter: ssehub.All()})
	ids := publish(t, a, "after")
	expectIDs(t, "after", r.readN(1), ids)
	if n := a.Stats().Subscribers.Load() + b.Stats().Subscribers.Load(); n != 1 {
		t.Errorf("%d subscribers, want 1", n)
	}
}

// TestEndCatchUpPendingRead: a Notify subscriber that a local deregistration
// ended before the live feed dispatched its events reads them from the log
// in the pool; once the feed has dispatched them into the hot tier (not yet
// the control event), the next Next must still wait for that read, not
// serve the same events from the tier and then the read's copies too.
func TestEndCatchUpPendingRead(t *testing.T) {
	store := openStore(t, "memory", ssehub.Retention{})
	h := newHub(t, store, Options{CatchUpReaders: 1})
	r := mustSubscribe(t, h, "notify", SubscribeOptions{Filter: ssehub.MustFilter("a", "b")})
	ids := publish(t, h, "a", "b")
	if err := h.DeregisterTopic(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	release := holdPool(t, h)
	if out, err := r.next(); err != nil || len(out) != 0 {
		t.Fatalf("Next: %q %v", out, err)
	}
	// The live feed's part: the two events, not the control event after
	// them (the hub does not run; the test is its feed).
	err := store.Read(context.Background(), 0, ssehub.All(), func(ev *ssehub.Event) error {
		cp := *ev
		return h.dispatch(&cp)
	})
	if err != nil || h.Head() != ids[1] {
		t.Fatalf("dispatching: %v (head %d)", err, h.Head())
	}
	if _, err := r.next(); err != nil {
		t.Fatal(err)
	}
	release()
	expectGone(t, "end", r.readEnd(), "a")
	expectIDs(t, "events", r.messages(), ids)
}
