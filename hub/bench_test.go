package hub

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/memory"
)

var benchEvent = &ssehub.Event{ID: 123456, Topic: "orders.created", Type: "created", Key: "k-1",
	Data: []byte(`{"order":42,"total":"19.99","items":[1,2,3]}`), Time: time.Unix(1700000000, 0)}

// BenchmarkEncodeRaw is the cost of one raw encoding, paid once per event
// however many subscribers share it.
func BenchmarkEncodeRaw(b *testing.B) {
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		dst = format.Raw.Encode(dst[:0], benchEvent, "123456")
	}
}

// BenchmarkEncodeEnvelope is BenchmarkEncodeRaw for the JSON envelope.
func BenchmarkEncodeEnvelope(b *testing.B) {
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		dst = format.Envelope.Encode(dst[:0], benchEvent, "123456")
	}
}

// BenchmarkFilterMatch is the per-subscriber test the linear dispatch made
// for every event.
func BenchmarkFilterMatch(b *testing.B) {
	f := ssehub.MustFilter("payments.*", "orders.*", "audit.log")
	b.ReportAllocs()
	for b.Loop() {
		if !f.Match("orders.created") {
			b.Fatal("no match")
		}
	}
}

// dispatchFixture is a hub with n subscribers each on its own topic, plus
// prefix and "*" subscribers, for BenchmarkDispatch. The hub does not run:
// the benchmark hands events to its dispatcher itself, as the live feed
// would.
type dispatchFixture struct {
	h      *Hub
	subs   []*Subscriber // every subscriber, for the linear dispatch
	exact  []*Subscriber // exact[i] is on topics[i]
	others []*Subscriber // the prefix and "*" subscribers: they get many events
	topics []string
	id     uint64
	buf    []byte
}

// Subscribers beside the n exact ones: one per prefix group, and a few of
// "*", so every event reaches 1 + 1 + dispatchAll subscribers.
const (
	dispatchGroups = 16
	dispatchAll    = 4
	drainEvery     = 1024
)

func newDispatchFixture(b *testing.B, n int) *dispatchFixture {
	store := memory.New(memory.Options{})
	b.Cleanup(func() { _ = store.Close() })
	h, err := New(context.Background(), store, Options{QueueSize: 4 * drainEvery, HotEvents: 4096})
	if err != nil {
		b.Fatal(err)
	}
	x := &dispatchFixture{h: h}
	sub := func(f ssehub.Filter) *Subscriber {
		s, err := h.Subscribe(SubscribeOptions{Filter: f, Format: format.Raw})
		if err != nil {
			b.Fatal(err)
		}
		x.subs = append(x.subs, s)
		return s
	}
	for i := range n {
		tp := fmt.Sprintf("g%d.t%d", i%dispatchGroups, i)
		x.topics = append(x.topics, tp)
		x.exact = append(x.exact, sub(ssehub.MustFilter(tp)))
	}
	for g := range dispatchGroups {
		x.others = append(x.others, sub(ssehub.MustFilter(fmt.Sprintf("g%d.*", g))))
	}
	for range dispatchAll {
		x.others = append(x.others, sub(ssehub.All()))
	}
	b.Cleanup(func() {
		for _, s := range x.subs {
			s.Close()
		}
	})
	return x
}

// event returns the next event, on the topic of exact subscriber i; the
// live feed hands over a new event each time.
func (x *dispatchFixture) event(i int) *ssehub.Event {
	x.id++
	return &ssehub.Event{ID: x.id, Topic: x.topics[i], Data: benchEvent.Data}
}

// drain empties the queues that events from..to (exact indexes) filled.
func (x *dispatchFixture) drain(b *testing.B, from, to int) {
	next := func(s *Subscriber) {
		var err error
		if x.buf, err = s.Next(x.buf[:0], 1<<30); err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range x.others {
		next(s)
	}
	n := len(x.exact)
	if to-from >= n {
		from, to = 0, n
	}
	for i := from; i < to; i++ {
		next(x.exact[i%n])
	}
}

// linearDispatch is the dispatch before the index: each event was encoded
// once, put in the hot tier, and then every live subscriber's filter was
// tested to enqueue it to those that match.
func (x *dispatchFixture) linearDispatch(ev *ssehub.Event) {
	h := x.h
	it := &item{ev: ev}
	for e := range encoding(numEncodings) {
		if h.encUsers[e].Load() > 0 {
			it.bytes(h, e)
		}
	}
	h.hot.add(it)
	h.stats.Dispatched.Add(1)
	h.mu.Lock()
	h.lastID.Store(ev.ID)
	for _, s := range x.subs {
		if s.filter.Match(ev.Topic) && !s.enqueue(it) {
			panic("a benchmark queue overflowed")
		}
	}
	h.mu.Unlock()
}

// BenchmarkDispatch is the cost of handing one event from the live feed to
// the subscribers it reaches, with 100 to 100,000 subscribers each on its
// own topic (plus 16 of "gN.*" and 4 of "*": every event reaches 6). The
// index (mode=index) should cost the same per event however many
// subscribers there are; the linear scan it replaced (mode=linear, the old
// dispatch rebuilt above, over the same subscribers) grows with them.
// Events go to the topics in turn; the queues are drained, with the timer
// stopped, every 1,024 events.
func BenchmarkDispatch(b *testing.B) {
	for _, n := range []int{100, 1_000, 10_000, 100_000} {
		x := newDispatchFixture(b, n)
		for _, mode := range []string{"index", "linear"} {
			b.Run(fmt.Sprintf("subs=%d/mode=%s", n, mode), func(b *testing.B) {
				dispatch := x.h.dispatch
				if mode == "linear" {
					dispatch = func(ev *ssehub.Event) error { x.linearDispatch(ev); return nil }
				}
				x.drain(b, 0, n)
				deliveries := x.h.stats.Deliveries.Load()
				b.ReportAllocs()
				b.ResetTimer()
				start := 0
				for i := 0; i < b.N; i++ {
					_ = dispatch(x.event(i % n))
					if (i+1)%drainEvery == 0 {
						b.StopTimer()
						x.drain(b, start, i+1)
						start = i + 1
						b.StartTimer()
					}
				}
				b.StopTimer()
				x.drain(b, start, b.N)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
				if got, want := x.h.stats.Deliveries.Load()-deliveries, uint64(b.N)*(2+dispatchAll); got != want {
					b.Fatalf("%d deliveries for %d events, want %d", got, b.N, want)
				}
			})
		}
		for _, s := range x.subs {
			s.Close()
		}
	}
}

// BenchmarkFanout measures handing one event to 1,000 live subscribers of
// orders.* (encode once, enqueue a pointer each), which a goroutine drains
// concurrently. (It was BenchmarkDispatch before the index.)
func BenchmarkFanout(b *testing.B) {
	store := memory.New(memory.Options{})
	defer store.Close()
	h, err := New(context.Background(), store, Options{QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	subs := make([]*Subscriber, n)
	for i := range subs {
		if subs[i], err = h.Subscribe(SubscribeOptions{Filter: ssehub.MustFilter("orders.*"), Format: format.Raw}); err != nil {
			b.Fatal(err)
		}
		defer subs[i].Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // one drainer for all, so the benchmark measures dispatch
		defer close(done)
		var buf []byte
		for ctx.Err() == nil {
			for _, s := range subs {
				buf, _ = s.Next(buf[:0], 1<<20)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	b.ReportAllocs()
	id := uint64(0)
	for b.Loop() {
		id++
		_ = h.dispatch(&ssehub.Event{ID: id, Topic: benchEvent.Topic, Type: benchEvent.Type, Data: benchEvent.Data})
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "enqueues/s")
	cancel()
	<-done
}

// BenchmarkNextCoalesce measures one writer collecting 64 queued events
// into one buffer (one write, one flush).
func BenchmarkNextCoalesce(b *testing.B) {
	store := memory.New(memory.Options{})
	defer store.Close()
	h, err := New(context.Background(), store, Options{QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	s, err := h.Subscribe(SubscribeOptions{Filter: ssehub.All(), Format: format.Raw})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var buf []byte
	id := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for range 64 {
			id++
			_ = h.dispatch(&ssehub.Event{ID: id, Topic: benchEvent.Topic, Type: benchEvent.Type, Data: benchEvent.Data})
		}
		b.StartTimer()
		if buf, err = s.Next(buf[:0], 1<<20); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(64, "events/op")
}

// BenchmarkIdleSubscriber reports the heap bytes one idle subscriber holds
// (see idleSubscriberBytes); the time is that of setting 1,000 up.
func BenchmarkIdleSubscriber(b *testing.B) {
	for _, how := range []string{"live", "replayed", "burst"} {
		b.Run("after="+how, func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = idleSubscriberBytes(b, 1000, how)
			}
			b.ReportMetric(per, "B/subscriber")
		})
	}
}

// BenchmarkFanoutNotify is BenchmarkFanout with subscribers that are woken
// through Notify, as the pump's detached streams are: each wake-up touches
// a word of the subscriber's own (the pump stream's state), and one
// drainer takes the queues every millisecond, so events come faster than
// they are taken, as at saturation. It reports the wake-ups per event
// (notifies/event) beside the dispatch time per event.
func BenchmarkFanoutNotify(b *testing.B) {
	for _, n := range []int{2_000, 20_000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			store := memory.New(memory.Options{})
			defer store.Close()
			h, err := New(context.Background(), store, Options{QueueSize: 1 << 16})
			if err != nil {
				b.Fatal(err)
			}
			type wakeState struct {
				state atomic.Uint32
				_     [60]byte // a stream's own cache line
			}
			states := make([]wakeState, n)
			var notifies atomic.Uint64
			subs := make([]*Subscriber, n)
			for i := range subs {
				st := &states[i]
				notify := func() {
					notifies.Add(1)
					st.state.CompareAndSwap(0, 1)
				}
				if subs[i], err = h.Subscribe(SubscribeOptions{Filter: ssehub.MustFilter("orders.*"), Format: format.Raw, Notify: notify}); err != nil {
					b.Fatal(err)
				}
				defer subs[i].Close()
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				var buf []byte
				for ctx.Err() == nil {
					for i, s := range subs {
						states[i].state.Store(0)
						buf, _ = s.Next(buf[:0], 1<<20)
					}
					time.Sleep(time.Millisecond)
				}
			}()
			b.ReportAllocs()
			id := uint64(0)
			for b.Loop() {
				id++
				_ = h.dispatch(&ssehub.Event{ID: id, Topic: benchEvent.Topic, Type: benchEvent.Type, Data: benchEvent.Data})
			}
			b.ReportMetric(float64(notifies.Load())/float64(b.N), "notifies/event")
			cancel()
			<-done
		})
	}
}
