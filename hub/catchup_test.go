package hub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
)

// TestOverflowCatchUp: subscribers far slower than the publishers overflow
// their small queues again and again, catch up from the hot tier or the log
// and rejoin the live feed, and still get every matching event exactly
// once, in order: no gap, no duplicate, for Wait and Notify subscribers,
// with publishers appending concurrently all along.
func TestOverflowCatchUp(t *testing.T) {
	for _, kind := range storeKinds {
		for _, mode := range []string{"wait", "notify"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				h := startHub(t, kind, ssehub.Retention{}, Options{QueueSize: 4, HotEvents: 16, CatchUpReaders: 2})
				filters := [][]string{{"*"}, {"t.*"}, {"t.3"}, {"u", "t.1.*"}, {"t.2", "t.3", "u"}}
				topics := []string{"t.1", "t.2", "t.3", "u", "t.1.x", "v"}
				// Events before the subscriptions, more than the hot tier
				// holds: the resuming subscribers start by reading the log.
				topicOf := map[uint64]string{}
				var early uint64
				for i := range 40 {
					tp := topics[i%len(topics)]
					early = publish(t, h, tp)[0]
					topicOf[early] = tp
				}
				waitFor(t, "the feed", func() bool { return h.Head() >= early })
				readers := make([]*reader, len(filters))
				targets := make([]atomic.Int64, len(filters))
				for i, pats := range filters {
					// Resume some from the start of the log, so they begin in
					// catch-up, and subscribe the others live.
					opts := SubscribeOptions{Filter: ssehub.MustFilter(pats...)}
					if i%2 == 1 {
						opts.From = Resume{Set: true, Earliest: true}
					}
					readers[i] = mustSubscribe(t, h, mode, opts)
					readers[i].max = 200 + 100*i // a few events per write
					readers[i].delay = 100 * time.Microsecond
					readers[i].poke = make(chan struct{}, 1)
					targets[i].Store(-1)
				}
				var wg sync.WaitGroup
				errs := make(chan error, len(readers))
				for i, r := range readers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs <- r.until(func() bool {
							n := targets[i].Load()
							return n >= 0 && int64(r.msgs) >= n
						})
					}()
				}
				const publishers, batches = 4, 150
				var mu sync.Mutex
				var pubs sync.WaitGroup
				for p := range publishers {
					pubs.Add(1)
					go func() {
						defer pubs.Done()
						rng := rand.New(rand.NewPCG(uint64(p), 7))
						for range batches {
							n := 1 + rng.IntN(4)
							evs := make([]*ssehub.Event, n)
							for k := range evs {
								evs[k] = &ssehub.Event{Topic: topics[rng.IntN(len(topics))], Data: []byte(fmt.Sprintf("p%d", p))}
							}
							res, err := h.Publish(context.Background(), evs)
							if err != nil {
								t.Errorf("publish: %v", err)
								return
							}
							mu.Lock()
							for k, r := range res {
								topicOf[r.ID] = evs[k].Topic
							}
							mu.Unlock()
						}
					}()
				}
				pubs.Wait()
				wants := make([]map[uint64]bool, len(filters))
				for i, pats := range filters {
					f := ssehub.MustFilter(pats...)
					wants[i] = map[uint64]bool{}
					for id, tp := range topicOf {
						if f.Match(tp) && (i%2 == 1 || id > early) { // live ones start after early
							wants[i][id] = true
						}
					}
					targets[i].Store(int64(len(wants[i])))
					readers[i].poke <- struct{}{}
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						for i, r := range readers {
							t.Logf("reader %v: %d of %d, attached %v pos %d catchUpTo %d lagged %v", filters[i], r.msgs, targets[i].Load(), r.sub.attached, r.sub.pos, r.sub.catchUpTo, r.sub.lagged)
						}
						t.Fatal(err)
					}
				}
				for i, pats := range filters {
					checkSequence(t, fmt.Sprint(pats), readers[i].frames, wants[i])
				}
				// Nothing more comes after the last expected event.
				marker := publish(t, h, "v")[0]
				all := readers[0]
				n := all.msgs
				got := all.readN(n + 1)
				if idOf(t, got[n]) != marker || len(got) != n+1 {
					t.Fatalf("after the last event came %v, want only %d", got[n:], marker)
				}
				st := h.Stats()
				if st.CatchUps.Load() == 0 || st.LogReads.Load() == 0 {
					t.Fatalf("the test did not exercise what it is about: %d catch-ups, %d log reads", st.CatchUps.Load(), st.LogReads.Load())
				}
				t.Logf("%d events, %d catch-ups, %d log reads", len(topicOf), st.CatchUps.Load(), st.LogReads.Load())
			})
		}
	}
}

// holdPool takes every place of h's pool of readers, so that no read from
// the log can start until release is called.
func holdPool(t *testing.T, h *Hub) (release func()) {
	t.Helper()
	for range h.opts.CatchUpReaders {
		if err := h.readers.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			for range h.opts.CatchUpReaders {
				h.readers.release()
			}
		})
	}
	t.Cleanup(release)
	return release
}

// pooledReads returns how many reads h's pool holds, queued or taken by a
// worker.
func pooledReads(h *Hub) int {
	h.readers.mu.Lock()
	defer h.readers.mu.Unlock()
	return len(h.readers.queue) + h.readers.workers
}

// nextWithin calls Next on another goroutine and fails the test when it
// does not return within deadline.
func nextWithin(t *testing.T, s *Subscriber, what string) ([]byte, error) {
	t.Helper()
	type result struct {
		out []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		out, err := s.Next(nil, 1<<20)
		ch <- result{out, err}
	}()
	select {
	case r := <-ch:
		return r.out, r.err
	case <-time.After(deadline):
		t.Fatalf("%s: Next blocked for %v", what, deadline)
		return nil, nil
	}
}

// TestNotifyNeverReadsInNext: a subscriber served by a shared writer
// (Notify set) has its reads from the log done by the hub's pool: while the
// pool cannot run one, Next returns at once with nothing and no read has
// happened; Notify comes once the read is done, and the events follow. A
// Wait subscriber reads inside Next, within the same pool's limit.
func TestNotifyNeverReadsInNext(t *testing.T) {
	store := openStore(t, "bolt", ssehub.Retention{})
	h0 := newHub(t, store, Options{})
	var ids []uint64
	for range 30 {
		ids = append(ids, publish(t, h0, "a")...)
	}
	// A new hub: its hot tier is empty, so a replay reads the log.
	h := newHub(t, store, Options{CatchUpReaders: 1})
	run(t, h)
	release := holdPool(t, h)

	notify := mustSubscribe(t, h, "notify", SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, Earliest: true}})
	for i := range 3 {
		out, err := nextWithin(t, notify.sub, "Notify subscriber")
		if err != nil || len(out) != 0 {
			t.Fatalf("Next %d while the read waits: %q, %v", i, out, err)
		}
		if i == 0 {
			// The pool's one worker takes the read and waits for a place.
			waitFor(t, "the worker to take the read", func() bool {
				h.readers.mu.Lock()
				defer h.readers.mu.Unlock()
				return h.readers.workers == 1 && len(h.readers.queue) == 0
			})
		}
	}
	if n := h.Stats().LogReads.Load(); n != 0 {
		t.Fatalf("%d log reads ran while the pool was full: Next read the log itself", n)
	}
	if n := pooledReads(h); n != 1 {
		t.Fatalf("%d reads in the pool, want 1 (one per subscriber at a time)", n)
	}
	select {
	case <-notify.wake:
		// The signal may be spare (Subscribe's); it must not come from a
		// finished read.
		if h.Stats().LogReads.Load() != 0 {
			t.Fatal("a read ran while the pool was full")
		}
	default:
	}

	wait := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, Earliest: true}})
	waitDone := make(chan []byte, 1)
	go func() {
		out, _ := wait.sub.Next(nil, 1<<20)
		waitDone <- out
	}()
	select {
	case out := <-waitDone:
		t.Fatalf("a Wait subscriber's Next returned %d bytes while the pool was full: it did not wait for its place", len(out))
	case <-time.After(50 * time.Millisecond):
	}

	release()
	expectIDs(t, "notify", notify.readN(len(ids)), ids)
	select {
	case out := <-waitDone:
		wait.frames = parseFrames(t, out)
		wait.msgs = len(wait.frames)
	case <-time.After(deadline):
		t.Fatal("the Wait subscriber's Next did not return once the pool had room")
	}
	expectIDs(t, "wait", wait.readN(len(ids)), ids)
	if n := h.Stats().LogReads.Load(); n < 2 {
		t.Fatalf("%d log reads, want at least one per subscriber", n)
	}
	waitFor(t, "the pool's workers to end", func() bool {
		h.readers.mu.Lock()
		defer h.readers.mu.Unlock()
		return h.readers.workers == 0
	})
}

// TestUrgentEndDuringRead: a revocation while a subscriber's read from the
// log is pending (in the pool, or inside a Wait subscriber's Next) ends the
// subscription at once: Next returns ErrRevoked, without waiting for the
// read and without any of its bytes, then or later.
func TestUrgentEndDuringRead(t *testing.T) {
	store := openStore(t, "bolt", ssehub.Retention{})
	h0 := newHub(t, store, Options{})
	for range 20 {
		publish(t, h0, "a")
	}
	h := newHub(t, store, Options{CatchUpReaders: 1})
	run(t, h)
	release := holdPool(t, h)
	cred := &Credential{ID: "r"}
	from := Resume{Set: true, Earliest: true}
	notify := mustSubscribe(t, h, "notify", SubscribeOptions{Filter: ssehub.All(), From: from, Credential: cred})
	if out, err := nextWithin(t, notify.sub, "notify"); err != nil || len(out) != 0 {
		t.Fatalf("Next: %q %v", out, err)
	}
	wait := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All(), From: from, Credential: cred})
	type result struct {
		out []byte
		err error
	}
	waitDone := make(chan result, 1)
	go func() {
		out, err := wait.sub.Next(nil, 1<<20)
		waitDone <- result{out, err}
	}()
	time.Sleep(20 * time.Millisecond) // let it block on the pool (if it does not yet, it finds the revocation)
	if err := h.RevokeToken(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	if out, err := nextWithin(t, notify.sub, "notify after the revocation"); !errors.Is(err, ErrRevoked) || len(out) != 0 {
		t.Fatalf("notify: Next after the revocation: %q, %v", out, err)
	}
	select {
	case r := <-waitDone:
		if !errors.Is(r.err, ErrRevoked) || len(r.out) != 0 {
			t.Fatalf("wait: the Next that was reading returned %q, %v; want nothing and ErrRevoked", r.out, r.err)
		}
	case <-time.After(deadline):
		t.Fatalf("wait: the Next waiting for the log did not end on the revocation within %v", deadline)
	}
	release()
	waitFor(t, "the pool's workers to end", func() bool {
		h.readers.mu.Lock()
		defer h.readers.mu.Unlock()
		return h.readers.workers == 0
	})
	for name, r := range map[string]*reader{"notify": notify, "wait": wait} {
		if out, err := r.sub.Next(nil, 1<<20); !errors.Is(err, ErrRevoked) || len(out) != 0 {
			t.Fatalf("%s: Next once the read finished: %q, %v", name, out, err)
		}
	}
}

// TestCloseDuringRead: Close while a read from the log is pending ends it:
// a Next waiting for the pool returns ErrClosed, the pooled read does not
// call Notify after Close, and the pool's workers end.
func TestCloseDuringRead(t *testing.T) {
	store := openStore(t, "bolt", ssehub.Retention{})
	h0 := newHub(t, store, Options{})
	for range 20 {
		publish(t, h0, "a")
	}
	h := newHub(t, store, Options{CatchUpReaders: 1})
	run(t, h)
	release := holdPool(t, h)
	from := Resume{Set: true, Earliest: true}
	var closed, lateNotify atomic.Bool
	s, err := h.Subscribe(SubscribeOptions{Filter: ssehub.All(), From: from, Notify: func() {
		if closed.Load() {
			lateNotify.Store(true)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := nextWithin(t, s, "notify"); err != nil || len(out) != 0 {
		t.Fatalf("Next: %q %v", out, err)
	}
	s.Close()
	closed.Store(true)

	wait, err := h.Subscribe(SubscribeOptions{Filter: ssehub.All(), From: from})
	if err != nil {
		t.Fatal(err)
	}
	waitDone := make(chan error, 1)
	go func() {
		_, err := wait.Next(nil, 1<<20)
		waitDone <- err
	}()
	time.Sleep(20 * time.Millisecond)
	wait.Close()
	select {
	case err := <-waitDone:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("a Next waiting for the log ended with %v on Close, want ErrClosed", err)
		}
	case <-time.After(deadline):
		t.Fatal("Close did not end a Next waiting for the log")
	}
	release()
	waitFor(t, "the pool's workers to end", func() bool {
		h.readers.mu.Lock()
		defer h.readers.mu.Unlock()
		return h.readers.workers == 0 && len(h.readers.queue) == 0
	})
	if lateNotify.Load() {
		t.Error("Notify was called after Close")
	}
	if n := h.Stats().LogReads.Load(); n != 0 {
		t.Errorf("%d reads of closed subscriptions ran", n)
	}
}

// TestNextByteBound: one Next writes at most max(maxBytes, one event):
// several events only when they fit in maxBytes together, and an event
// larger than maxBytes alone. It holds for live events, for catch-up from
// the hot tier and from the log (in both modes), and with a gap event first.
func TestNextByteBound(t *testing.T) {
	const maxBytes = 1024
	sizes := []int{10, 300, 50, 900, 3000, 1, 400, 700, 2000, 5, 600, 1100, 30, 450}
	check := func(t *testing.T, r *reader, want int) {
		t.Helper()
		got := r.readN(want)
		for i, w := range r.writes {
			fs := parseFrames(t, w)
			if len(fs) > 1 && len(w) > maxBytes {
				t.Fatalf("write %d holds %d events in %d bytes, more than maxBytes %d: %v", i, len(fs), len(w), maxBytes, fs)
			}
		}
		for i := 1; i < len(got); i++ {
			if idOf(t, got[i]) <= idOf(t, got[i-1]) {
				t.Fatalf("events out of order: %v", got)
			}
		}
	}
	for _, kind := range storeKinds {
		for _, mode := range []string{"wait", "notify"} {
			t.Run(kind+"/"+mode+"/live", func(t *testing.T) {
				h := startHub(t, kind, ssehub.Retention{}, Options{})
				r := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All()})
				r.max = maxBytes
				var last uint64
				for _, n := range sizes {
					last = publishSized(t, h, "a", n)
				}
				waitFor(t, "the feed", func() bool { return h.Head() >= last })
				check(t, r, len(sizes))
			})
			t.Run(kind+"/"+mode+"/hot", func(t *testing.T) {
				h := startHub(t, kind, ssehub.Retention{}, Options{})
				var last uint64
				for _, n := range sizes {
					last = publishSized(t, h, "a", n)
				}
				waitFor(t, "the feed", func() bool { return h.Head() >= last })
				r := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, Earliest: true}})
				r.max = maxBytes
				check(t, r, len(sizes))
				if h.Stats().LogReads.Load() != 0 {
					t.Error("the replay read the log, not the hot tier")
				}
			})
			t.Run(kind+"/"+mode+"/log", func(t *testing.T) {
				store := openStore(t, kind, ssehub.Retention{})
				h0 := newHub(t, store, Options{})
				for _, n := range sizes {
					publishSized(t, h0, "a", n)
				}
				h := newHub(t, store, Options{})
				run(t, h)
				r := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, Earliest: true}})
				r.max = maxBytes
				check(t, r, len(sizes))
				if h.Stats().LogReads.Load() == 0 {
					t.Error("the replay did not read the log")
				}
			})
			t.Run(kind+"/"+mode+"/gap", func(t *testing.T) {
				// The gap event and the first event do not fit together.
				store := openStore(t, kind, ssehub.Retention{MaxEvents: 4})
				h0 := newHub(t, store, Options{})
				for range 6 {
					publishSized(t, h0, "a", 980)
				}
				h := newHub(t, store, Options{})
				run(t, h)
				r := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, After: 1}})
				r.max = maxBytes
				check(t, r, 4)
				if r.frames[0].typ != "gap" {
					t.Fatalf("no gap event first: %v", r.frames)
				}
			})
		}
	}
}

// TestCatchUpRetentionGap: a live subscriber that fell behind further than
// the log retains gets a retention gap event (with the id it last got, in
// its id style), then the retained events, then live ones. It falls behind
// in two ways: its own queue overflows while the live feed keeps up, or the
// live feed itself is passed by retention (here it starts only after the
// events are in, so it finds them gone). Either way no event goes missing
// without a gap event saying so.
func TestCatchUpRetentionGap(t *testing.T) {
	for _, kind := range storeKinds {
		for _, late := range []bool{false, true} {
			for _, epochIDs := range []bool{false, true} {
				t.Run(fmt.Sprint(kind, "/lateFeed=", late, "/epochIDs=", epochIDs), func(t *testing.T) {
					h := newHub(t, openStore(t, kind, ssehub.Retention{MaxEvents: 10}), Options{QueueSize: 2, HotEvents: 1})
					if !late {
						run(t, h)
					}
					r := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All(), EpochIDs: epochIDs})
					var ids []uint64
					for range 30 {
						ids = append(ids, publish(t, h, "a")...)
					}
					if late {
						run(t, h)
					}
					waitFor(t, "the feed", func() bool { return h.Head() >= ids[29] })
					got := r.readN(10)
					got = checkRetentionGap(t, r.frames, ids, ids[20], epochIDs, h.Epoch())
					more := publish(t, h, "a")
					expectIDs(t, "then live", r.readN(len(got) + 1)[len(got):], more)
				})
			}
		}
	}
}

// checkRetentionGap checks that frames are the first events of ids, then a
// retention gap event naming the last of them (or 0), then every id from
// earliest on; it returns the events.
func checkRetentionGap(t *testing.T, frames []frame, ids []uint64, earliest uint64, epochIDs bool, epoch string) []frame {
	t.Helper()
	g := -1
	for i, f := range frames {
		if f.typ == "gap" {
			if g >= 0 {
				t.Fatalf("two gap events: %v", frames)
			}
			g = i
		}
	}
	if g < 0 {
		t.Fatalf("no gap event: %v", frames)
	}
	expectIDs(t, "before the gap", frames[:g], ids[:g])
	var last uint64
	if g > 0 {
		last = ids[g-1]
	}
	lastText := fmt.Sprint(last)
	if epochIDs {
		lastText += "@" + epoch
	}
	want := fmt.Sprintf(`{"last_event_id":"%s","earliest":"%d","reason":"retention"}`, lastText, earliest)
	if frames[g].data != want {
		t.Fatalf("gap event %v, want %s", frames[g], want)
	}
	var after []uint64
	for _, id := range ids {
		if id >= earliest {
			after = append(after, id)
		}
	}
	expectIDs(t, "after the gap", frames[g+1:], after)
	return append(append([]frame(nil), frames[:g]...), frames[g+1:]...)
}

// TestHotRing: the hot tier keeps the newest events within its count and
// byte bounds, in id order, and says when it cannot serve a range.
func TestHotRing(t *testing.T) {
	mk := func(id uint64, size int) *item {
		return &item{ev: &ssehub.Event{ID: id, Topic: "a", Data: make([]byte, size)}}
	}
	ids := func(items []*item) []uint64 {
		var out []uint64
		for _, it := range items {
			out = append(out, it.ev.ID)
		}
		return out
	}
	r := newRing(4, 0)
	if _, ok := r.collect(nil, 0, 10, 100); ok {
		t.Fatal("an empty ring claims to hold events")
	}
	for id := uint64(1); id <= 6; id++ {
		r.add(mk(id, 10))
	}
	if got, ok := r.collect(nil, 2, 6, 100); !ok || fmt.Sprint(ids(got)) != "[3 4 5 6]" {
		t.Fatalf("collect after 2: %v %v", ids(got), ok)
	}
	if _, ok := r.collect(nil, 1, 6, 100); ok {
		t.Fatal("the ring claims event 2, which it dropped")
	}
	if got, ok := r.collect(nil, 3, 5, 100); !ok || fmt.Sprint(ids(got)) != "[4 5]" {
		t.Fatalf("collect (3,5]: %v %v", ids(got), ok)
	}
	if got, ok := r.collect(nil, 2, 6, 2); !ok || fmt.Sprint(ids(got)) != "[3 4]" {
		t.Fatalf("collect at most 2: %v %v", ids(got), ok)
	}
	if got, ok := r.collect(nil, 6, 9, 100); !ok || len(got) != 0 {
		t.Fatalf("collect after the newest: %v %v", ids(got), ok)
	}
	// Byte bound: each item counts 64 bytes plus its topic and data.
	b := newRing(100, 3*(64+1+36))
	for id := uint64(1); id <= 5; id++ {
		b.add(mk(id, 36))
	}
	if got, ok := b.collect(nil, 2, 5, 100); !ok || fmt.Sprint(ids(got)) != "[3 4 5]" || b.n != 3 {
		t.Fatalf("byte-bounded ring: %v %v (%d items, %d bytes)", ids(got), ok, b.n, b.bytes)
	}
	b.add(mk(6, 1000)) // larger than the bound: kept alone
	if got, ok := b.collect(nil, 5, 6, 100); !ok || fmt.Sprint(ids(got)) != "[6]" || b.n != 1 {
		t.Fatalf("an item past the byte bound: %v %v (%d items)", ids(got), ok, b.n)
	}

	// Through the hub: a replay the tier holds does not read the log; one
	// older than the tier does.
	h := startHub(t, "memory", ssehub.Retention{}, Options{HotEvents: 8})
	var all []uint64
	for range 20 {
		all = append(all, publish(t, h, "a")...)
	}
	waitFor(t, "the feed", func() bool { return h.Head() >= all[19] })
	hot := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, After: all[13]}})
	expectIDs(t, "from the hot tier", hot.readN(6), all[14:])
	if n := h.Stats().LogReads.Load(); n != 0 {
		t.Fatalf("a replay within the hot tier read the log %d times", n)
	}
	cold := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, After: all[2]}})
	expectIDs(t, "from the log", cold.readN(17), all[3:])
	if n := h.Stats().LogReads.Load(); n == 0 {
		t.Fatal("a replay older than the hot tier did not read the log")
	}
}

// TestAttachRace: events the live feed dispatches after a subscriber's
// catch-up reached the head but before it joined the index are delivered,
// once: from the hot tier, or from the log when the tier no longer has
// them, and the live queue's copies of later ones are not sent twice.
func TestAttachRace(t *testing.T) {
	for _, kind := range storeKinds {
		for _, mode := range []string{"wait", "notify"} {
			for _, hot := range []int{1024, 1} {
				t.Run(fmt.Sprint(kind, "/", mode, "/hot=", hot), func(t *testing.T) {
					h := startHub(t, kind, ssehub.Retention{}, Options{HotEvents: hot})
					ids := publish(t, h, "a", "b", "a")
					waitFor(t, "the feed", func() bool { return h.Head() >= ids[2] })
					r := mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.MustFilter("a"), From: Resume{Set: true, Earliest: true}})
					var raced []uint64
					testHookAttach = func(s *Subscriber) {
						if s != r.sub || raced != nil {
							return
						}
						raced = publish(t, h, "a", "b", "a", "a")
						waitFor(t, "the feed", func() bool { return h.Head() >= raced[3] })
					}
					t.Cleanup(func() { testHookAttach = nil })
					r.readN(2)
					if raced == nil {
						if err := r.until(func() bool { return raced != nil }); err != nil {
							t.Fatal(err)
						}
					}
					later := publish(t, h, "a")
					got := r.readN(6)
					expectIDs(t, "events", got, []uint64{ids[0], ids[2], raced[0], raced[2], raced[3], later[0]})
					if err := r.until(func() bool { return r.sub.attached && r.sub.pos >= later[0] }); err != nil {
						t.Fatal(err)
					}
					if len(r.messages()) != 6 {
						t.Fatalf("duplicates: %v", r.messages())
					}
				})
			}
		}
	}
}
