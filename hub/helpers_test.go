package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/memory"
)

// deadline bounds every wait of these tests: far longer than anything takes
// on a loaded machine, so that reaching it means a lost wake-up or a hang,
// not slowness.
const deadline = 20 * time.Second

// storeKinds are the real stores every store-dependent test runs against.
var storeKinds = []string{"memory", "bolt"}

// openStore opens a new, empty store of kind; the test's cleanup closes it.
func openStore(t testing.TB, kind string, r ssehub.Retention) ssehub.Store {
	t.Helper()
	var s ssehub.Store
	switch kind {
	case "memory":
		s = memory.New(memory.Options{Retention: r})
	case "bolt":
		l, err := bolt.Open(t.TempDir(), bolt.Options{Retention: r, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		s = l
	default:
		t.Fatalf("unknown store %q", kind)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newHub returns a hub over store that is not running yet.
func newHub(t testing.TB, store ssehub.Store, opts Options) *Hub {
	t.Helper()
	h, err := New(context.Background(), store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// run starts h's live feed; the returned function (also run by the test's
// cleanup) stops it and waits for Run to return.
func run(t testing.TB, h *Hub) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(deadline):
			t.Errorf("Run did not return %v after its context ended", deadline)
		}
	}
	t.Cleanup(stop)
	waitFor(t, "the live feed to start", h.Ready)
	return stop
}

// startHub opens a store of kind, and a running hub over it.
func startHub(t testing.TB, kind string, r ssehub.Retention, opts Options) *Hub {
	t.Helper()
	h := newHub(t, openStore(t, kind, r), opts)
	run(t, h)
	return h
}

// waitFor polls cond until it holds, failing the test after deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting %v for %s", deadline, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// publish appends one event per topic, each with data "<topic>#<n>", and
// returns their ids.
func publish(t testing.TB, h *Hub, topics ...string) []uint64 {
	t.Helper()
	evs := make([]*ssehub.Event, len(topics))
	for i, tp := range topics {
		evs[i] = &ssehub.Event{Topic: tp, Data: []byte(tp + "#" + strconv.Itoa(i))}
	}
	res, err := h.Publish(context.Background(), evs)
	if err != nil {
		t.Fatalf("publish %v: %v", topics, err)
	}
	ids := make([]uint64, len(res))
	for i, r := range res {
		ids[i] = r.ID
	}
	return ids
}

// publishSized appends one event to topic with data of n bytes.
func publishSized(t testing.TB, h *Hub, topic string, n int) uint64 {
	t.Helper()
	res, err := h.Publish(context.Background(), []*ssehub.Event{{Topic: topic, Data: bytes.Repeat([]byte{'x'}, n)}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].ID
}

// frame is one SSE event of a stream.
type frame struct {
	typ, id, data string
	size          int // bytes on the wire, with the blank line
}

func (f frame) String() string { return fmt.Sprintf("{%s id=%s %.40q}", f.typ, f.id, f.data) }

// parseFrames splits SSE bytes into events. Comment lines are ignored.
func parseFrames(t testing.TB, b []byte) []frame {
	t.Helper()
	var out []frame
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\n\n"))
		if i < 0 {
			t.Fatalf("SSE bytes end inside an event: %q", b)
		}
		var f frame
		f.size = i + 2
		for _, line := range strings.Split(string(b[:i]), "\n") {
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "":
				// a comment
			case "event":
				f.typ = value
			case "id":
				f.id = value
			case "data":
				if f.data != "" {
					f.data += "\n"
				}
				f.data += value
			}
		}
		if f.typ == "" {
			f.typ = "message"
		}
		out = append(out, f)
		b = b[i+2:]
	}
	return out
}

// idOf returns the numeric part of an SSE id ("42" or "42@epoch").
func idOf(t testing.TB, f frame) uint64 {
	t.Helper()
	s, _, _ := strings.Cut(f.id, "@")
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("frame %v has no numeric id", f)
	}
	return n
}

// reader drives one subscription the way its writer would: Next until it
// has nothing, then Wait (Wait mode) or the Notify signal (Notify mode).
type reader struct {
	t      testing.TB
	sub    *Subscriber
	wake   chan struct{} // Notify mode's signal; nil in Wait mode
	max    int           // maxBytes of each Next
	frames []frame       // everything received
	msgs   int           // frames of events (with an id; not gap events)
	writes [][]byte      // each non-empty Next, as returned
	err    error         // the error Next ended the subscription with
	delay  time.Duration // sleep after each write: a slow client
	poke   chan struct{} // when set, a send makes until look at its condition again
}

// subscribe makes a subscription read through a reader in the given mode
// ("wait" or "notify").
func subscribe(t testing.TB, h *Hub, mode string, opts SubscribeOptions) (*reader, error) {
	t.Helper()
	r := &reader{t: t, max: 64 << 10}
	if mode == "notify" {
		r.wake = make(chan struct{}, 1)
		prev := opts.Notify
		opts.Notify = func() {
			if prev != nil {
				prev()
			}
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
	} else if mode != "wait" {
		t.Fatalf("unknown mode %q", mode)
	}
	if opts.Format == nil {
		opts.Format = format.Raw
	}
	s, err := h.Subscribe(opts)
	if err != nil {
		return nil, err
	}
	r.sub = s
	t.Cleanup(s.Close)
	return r, nil
}

// mustSubscribe is subscribe that fails the test on error.
func mustSubscribe(t testing.TB, h *Hub, mode string, opts SubscribeOptions) *reader {
	t.Helper()
	r, err := subscribe(t, h, mode, opts)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return r
}

// next calls Next once and records what it wrote.
func (r *reader) next() ([]byte, error) {
	out, err := r.sub.Next(nil, r.max)
	if len(out) > 0 {
		r.writes = append(r.writes, out)
		fs := parseFrames(r.t, out)
		for _, f := range fs {
			if f.id != "" {
				r.msgs++
			}
		}
		r.frames = append(r.frames, fs...)
		if r.delay > 0 {
			time.Sleep(r.delay)
		}
	}
	if err != nil {
		r.err = err
	}
	return out, err
}

// until reads until done holds (nil), the subscription ends (its error), or
// deadline passes (an error naming a lost wake-up).
func (r *reader) until(done func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	for !done() {
		out, err := r.next()
		if err != nil {
			return err
		}
		if len(out) > 0 {
			continue
		}
		if done() {
			return nil
		}
		if r.wake != nil {
			select {
			case <-r.wake:
			case <-r.poke:
			case <-ctx.Done():
				return fmt.Errorf("no Notify for %v with %d events received (a lost wake-up?)", deadline, len(r.frames))
			}
			continue
		}
		wctx, poked := ctx, func() {}
		if r.poke != nil {
			var cancel context.CancelFunc
			wctx, cancel = context.WithCancel(ctx)
			stop, exited := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(exited)
				select {
				case <-r.poke:
					cancel()
				case <-stop:
				}
			}()
			// Wait for the goroutine, so that a later poke finds the next one.
			poked = func() { close(stop); <-exited; cancel() }
		}
		_, err = r.sub.Wait(wctx, 0)
		poked()
		if err != nil && ctx.Err() == nil {
			continue // poked
		}
		if err != nil {
			return fmt.Errorf("Wait returned nothing for %v with %d events received (a lost wake-up?): %w", deadline, len(r.frames), err)
		}
	}
	return nil
}

// messages returns the received events: the frames with an id (not gap
// events, nor a session's own).
func (r *reader) messages() []frame {
	var out []frame
	for _, f := range r.frames {
		if f.id != "" {
			out = append(out, f)
		}
	}
	return out
}

// readN reads until n events (frames with an id) have come, failing the
// test otherwise.
func (r *reader) readN(n int) []frame {
	r.t.Helper()
	if err := r.until(func() bool { return r.msgs >= n }); err != nil {
		r.t.Fatalf("reading %d events: %v (got %d: %v)", n, err, len(r.messages()), r.messages())
	}
	return r.messages()
}

// readEnd reads until the subscription ends and returns its error.
func (r *reader) readEnd() error {
	r.t.Helper()
	err := r.until(func() bool { return false })
	if err == nil || strings.Contains(err.Error(), "lost wake-up") {
		r.t.Fatalf("the subscription did not end: %v", err)
	}
	return err
}

// expectIDs checks that frames are exactly the events with ids want, in order.
func expectIDs(t testing.TB, what string, frames []frame, want []uint64) {
	t.Helper()
	got := make([]uint64, len(frames))
	for i, f := range frames {
		got[i] = idOf(t, f)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events %v, want %d %v", what, len(got), short(got), len(want), short(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d is id %d, want %d (got %v, want %v)", what, i, got[i], want[i], short(got), short(want))
		}
	}
}

// checkSequence checks that ids increase strictly and hold every id of want
// (a sorted list) exactly once, nothing else: no gap, no duplicate.
func checkSequence(t testing.TB, what string, frames []frame, want map[uint64]bool) {
	t.Helper()
	var last uint64
	seen := 0
	for i, f := range frames {
		id := idOf(t, f)
		if id <= last {
			t.Fatalf("%s: event %d has id %d after %d (a duplicate or out of order)", what, i, id, last)
		}
		if !want[id] {
			t.Fatalf("%s: event %d has id %d, which it should not get", what, i, id)
		}
		last = id
		seen++
	}
	if seen != len(want) {
		missing := []uint64{}
		got := map[uint64]bool{}
		for _, f := range frames {
			got[idOf(t, f)] = true
		}
		for id := range want {
			if !got[id] && len(missing) < 10 {
				missing = append(missing, id)
			}
		}
		t.Fatalf("%s: got %d of %d events; missing e.g. %v", what, seen, len(want), missing)
	}
}

func short(ids []uint64) string {
	if len(ids) <= 20 {
		return fmt.Sprint(ids)
	}
	return fmt.Sprintf("%v ... %v", ids[:10], ids[len(ids)-10:])
}

// settleGoroutines waits until no more goroutines run than before, failing
// with every goroutine's stack otherwise.
func settleGoroutines(t testing.TB, before int) {
	t.Helper()
	end := time.Now().Add(deadline)
	for runtime.NumGoroutine() > before {
		if time.Now().After(end) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after %v, %d before:\n%s", runtime.NumGoroutine(), deadline, before, buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isEnd reports whether err is the end err wants.
func isEnd(err, want error) bool { return err != nil && errors.Is(err, want) }
