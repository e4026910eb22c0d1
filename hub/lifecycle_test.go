package hub

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
)

// TestCloseFreesEverything: closing every subscription (of every kind:
// live, resuming, Notify, with an expiring credential, with a read from the
// log pending) and stopping the hub leaves nothing behind: no goroutine
// (the pool's workers end when idle, expiry timers stop), no subscriber in
// the hub's maps or its index, no encoding kept alive.
func TestCloseFreesEverything(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			before := runtime.NumGoroutine()
			store := openStore(t, kind, ssehub.Retention{})
			h0 := newHub(t, store, Options{})
			for range 50 {
				publish(t, h0, "a.b", "c")
			}
			h := newHub(t, store, Options{HotEvents: 4, CatchUpReaders: 2})
			stop := run(t, h)
			var subs []*reader
			for i := range 40 {
				opts := SubscribeOptions{Filter: []ssehub.Filter{ssehub.All(), ssehub.MustFilter("a.*"), ssehub.MustFilter("c", "a.b")}[i%3]}
				if i%2 == 0 {
					opts.From = Resume{Set: true, Earliest: true}
				}
				if i%4 == 1 {
					opts.Credential = &Credential{ID: fmt.Sprint("tok", i%3), ExpiresAt: time.Now().Add(time.Hour)}
				}
				mode := []string{"wait", "notify"}[i/2%2]
				r := mustSubscribe(t, h, mode, opts)
				r.max = 512
				subs = append(subs, r)
			}
			publish(t, h, "a.b", "c")
			// Read a little from each, leaving some mid catch-up with a
			// pooled read pending.
			for _, r := range subs {
				if _, err := r.next(); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range subs {
				r.sub.Close()
				r.sub.Close() // idempotent
			}
			waitFor(t, "the pool to empty", func() bool {
				h.readers.mu.Lock()
				defer h.readers.mu.Unlock()
				return h.readers.workers == 0 && len(h.readers.queue) == 0
			})
			h.mu.Lock()
			leftovers := fmt.Sprintf("subs %d, guards %d, index exact %d prefix %d all %d",
				len(h.subs), len(h.guards), len(h.idx.exact), len(h.idx.prefix), len(h.idx.all))
			clean := len(h.subs)+len(h.guards)+len(h.idx.exact)+len(h.idx.prefix)+len(h.idx.all) == 0
			h.mu.Unlock()
			if !clean {
				t.Errorf("after closing every subscription: %s", leftovers)
			}
			for e := range h.encUsers {
				if n := h.encUsers[e].Load(); n != 0 {
					t.Errorf("encoding %d has %d users", e, n)
				}
			}
			if n := h.Stats().Subscribers.Load(); n != 0 {
				t.Errorf("%d subscribers counted", n)
			}
			stop()
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			settleGoroutines(t, before)
		})
	}
}

// TestNextAfterClose: Next on a closed subscription, live or catching up,
// returns ErrClosed and nothing else; Wait does not block on it.
func TestNextAfterClose(t *testing.T) {
	h := startHub(t, "memory", ssehub.Retention{}, Options{})
	ids := publish(t, h, "a", "a")
	waitFor(t, "the feed", func() bool { return h.Head() >= ids[1] })
	live := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All()})
	replay := mustSubscribe(t, h, "notify", SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, Earliest: true}})
	publish(t, h, "a")
	for name, r := range map[string]*reader{"live": live, "replay": replay} {
		r.sub.Close()
		if out, err := r.sub.Next(nil, 1<<20); !errors.Is(err, ErrClosed) || len(out) != 0 {
			t.Errorf("%s: Next after Close: %q, %v", name, out, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if _, err := live.sub.Wait(ctx, 0); err != nil {
		t.Errorf("Wait on a closed subscription: %v", err)
	}
}

// boundsFault is a real store whose Bounds fails while fail is set: the
// only way to see what the hub does with that error, since the memory and
// bolt stores answer Bounds from memory and never fail it.
type boundsFault struct {
	ssehub.Store
	fail atomic.Bool
}

var errBounds = errors.New("bounds: the store is unreachable")

func (s *boundsFault) Bounds(ctx context.Context) (ssehub.Position, error) {
	if s.fail.Load() {
		return ssehub.Position{}, errBounds
	}
	return s.Store.Bounds(ctx)
}

// TestBoundsFails: a resuming Subscribe fails with the log's error when the
// log cannot say where it stands, and leaves nothing registered; a live
// Subscribe does not need it; a catch-up read that cannot get the bounds
// ends the subscription with the error.
func TestBoundsFails(t *testing.T) {
	store := &boundsFault{Store: openStore(t, "memory", ssehub.Retention{})}
	h := newHub(t, store, Options{HotEvents: 1})
	run(t, h)
	ids := publish(t, h, "a", "a", "a")
	waitFor(t, "the feed", func() bool { return h.Head() >= ids[2] })
	store.fail.Store(true)
	if _, err := h.Subscribe(SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, After: 1}, Credential: &Credential{ID: "x"}}); !errors.Is(err, errBounds) {
		t.Fatalf("Subscribe: %v, want the store's error", err)
	}
	h.mu.Lock()
	n, g := len(h.subs), len(h.guards)
	h.mu.Unlock()
	if n != 0 || g != 0 || h.Stats().Subscribers.Load() != 0 {
		t.Fatalf("a failed Subscribe left %d subscriptions, %d guards", n, g)
	}
	live := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All()})
	more := publish(t, h, "a")
	expectIDs(t, "live", live.readN(1), more)

	store.fail.Store(false)
	for _, mode := range []string{"wait", "notify"} {
		r := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, After: 0}})
		store.fail.Store(true)
		if err := r.readEnd(); !errors.Is(err, errBounds) {
			t.Errorf("%s: a catch-up without bounds ended with %v", mode, err)
		}
		store.fail.Store(false)
	}
}

// TestStats: the hub's counters count what they say.
func TestStats(t *testing.T) {
	var commits, committed atomic.Int64
	store := openStore(t, "memory", ssehub.Retention{})
	h := newHub(t, store, Options{QueueSize: 2, HotEvents: 2, OnCommit: func(d time.Duration, n int) {
		commits.Add(1)
		committed.Add(int64(n))
	}})
	run(t, h)
	st := h.Stats()
	ctx := context.Background()
	res, err := h.Publish(ctx, []*ssehub.Event{{Topic: "a", Key: "k1", Data: []byte("1")}, {Topic: "b", Data: []byte("2")}})
	if err != nil {
		t.Fatal(err)
	}
	dup, err := h.Publish(ctx, []*ssehub.Event{{Topic: "a", Key: "k1", Data: []byte("again")}})
	if err != nil || !dup[0].Duplicate || dup[0].ID != res[0].ID {
		t.Fatalf("duplicate: %+v %v", dup, err)
	}
	if st.Published.Load() != 2 || st.Duplicates.Load() != 1 || commits.Load() != 2 || committed.Load() != 3 {
		t.Fatalf("published %d duplicates %d; OnCommit %d calls, %d events", st.Published.Load(), st.Duplicates.Load(), commits.Load(), committed.Load())
	}
	waitFor(t, "the feed", func() bool { return h.Head() >= res[1].ID })
	if n := st.Dispatched.Load(); n != 2 {
		t.Fatalf("Dispatched %d", n)
	}
	live := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.MustFilter("a", "c")})
	replay := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, Earliest: true}})
	if st.Subscribers.Load() != 2 || st.Replays.Load() != 1 {
		t.Fatalf("subscribers %d replays %d", st.Subscribers.Load(), st.Replays.Load())
	}
	expectIDs(t, "replay", replay.readN(2), []uint64{res[0].ID, res[1].ID})
	if st.Deliveries.Load() != 2 {
		t.Fatalf("Deliveries %d after a replay of 2", st.Deliveries.Load())
	}
	// Five events for the live subscriber, queue of 2: it overflows once
	// and catches up from the log (the hot tier holds 2).
	var five []uint64
	for range 5 {
		five = append(five, publish(t, h, "c", "b")[0])
	}
	waitFor(t, "the feed", func() bool { return h.Head() >= five[4]+1 })
	reads := st.LogReads.Load()
	expectIDs(t, "live", live.readN(5), five)
	if st.CatchUps.Load() != 1 || st.LogReads.Load() <= reads {
		t.Fatalf("catch-ups %d, log reads %d (from %d)", st.CatchUps.Load(), st.LogReads.Load(), reads)
	}
	if st.Deliveries.Load() != 7 {
		t.Fatalf("Deliveries %d, want 7", st.Deliveries.Load())
	}
	if st.Dispatched.Load() != 12 {
		t.Fatalf("Dispatched %d, want 12", st.Dispatched.Load())
	}
	live.sub.Close()
	replay.sub.Close()
	if st.Subscribers.Load() != 0 {
		t.Fatalf("Subscribers %d after Close", st.Subscribers.Load())
	}
}

// idleSubscriberBytes returns the heap bytes each of n idle subscribers
// holds, by how it got idle: "live" (subscribed, nothing sent yet),
// "replayed" (it first replayed 4,500 events from the hot tier) or "burst"
// (it was sent a burst of 1,000 live events in one write). The burst's
// count includes the hot tier's share of its events (about 100 bytes per
// subscriber at n = 1,000).
func idleSubscriberBytes(tb testing.TB, n int, how string) float64 {
	store := openStore(tb, "memory", ssehub.Retention{})
	h := newHub(tb, store, Options{})
	var last uint64
	busy := func(events int) {
		for range events / 100 {
			evs := make([]*ssehub.Event, 100)
			for i := range evs {
				evs[i] = &ssehub.Event{Topic: "busy", Data: []byte("x")}
			}
			res, err := h.Publish(context.Background(), evs)
			if err != nil {
				tb.Fatal(err)
			}
			last = res[len(res)-1].ID
		}
	}
	switch how {
	case "replayed":
		run(tb, h)
		busy(4500)
		waitFor(tb, "the feed", func() bool { return h.Head() >= last })
	case "burst":
		busy(1000) // in the log, dispatched once the subscribers are in
	}
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	subs := make([]*Subscriber, n)
	filters := make([]ssehub.Filter, n)
	for i := range filters {
		filters[i] = ssehub.MustFilter(fmt.Sprintf("t%d", i), "busy")
	}
	var buf []byte // the writer's, not the subscriber's
	drain := func(s *Subscriber) {
		for {
			var err error
			buf, err = s.Next(buf[:0], 64<<10)
			if err != nil {
				tb.Fatal(err)
			}
			if len(buf) == 0 && s.attached && s.pos >= last {
				return
			}
		}
	}
	if how == "replayed" {
		// The first replay encodes the hot tier's events, which keep their
		// encoding for every later subscriber: not a subscriber's cost.
		s, err := h.Subscribe(SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, Earliest: true}})
		if err != nil {
			tb.Fatal(err)
		}
		drain(s)
		s.Close()
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	for i := range subs {
		opts := SubscribeOptions{Context: parent, Filter: filters[i]}
		if how == "replayed" {
			opts.From = Resume{Set: true, Earliest: true}
		}
		s, err := h.Subscribe(opts)
		if err != nil {
			tb.Fatal(err)
		}
		subs[i] = s
		if how == "replayed" {
			drain(s)
		}
	}
	if how == "burst" {
		run(tb, h)
		waitFor(tb, "the feed", func() bool { return h.Head() >= last })
		for _, s := range subs {
			drain(s)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := float64(int64(ms.HeapAlloc)-int64(before)) / float64(n)
	for _, s := range subs {
		s.Close()
	}
	return per
}

// TestIdleSubscriberMemory: an idle subscriber costs about a kilobyte, not
// the scratch space of a catch-up it made once, nor the queue of a burst.
func TestIdleSubscriberMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	for _, how := range []string{"live", "replayed", "burst"} {
		per := idleSubscriberBytes(t, 1000, how)
		t.Logf("idle subscriber (%s): %.0f bytes", how, per)
		if per > 2048 {
			t.Errorf("an idle subscriber (%s) holds %.0f bytes", how, per)
		}
	}
}
