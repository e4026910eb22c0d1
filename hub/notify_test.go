package hub

import (
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
)

// TestNotifyOncePerQueue: the dispatcher wakes a Notify subscriber for the
// event that finds its queue empty and not for the events queued after it
// before the subscriber takes them; every event still comes, once, in
// order, and the first event after a Next wakes it again. An overflow
// still wakes it (it must catch up from the log).
func TestNotifyOncePerQueue(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			h := startHub(t, kind, ssehub.Retention{}, Options{QueueSize: 8})
			var notifies atomic.Int64
			s, err := h.Subscribe(SubscribeOptions{Filter: ssehub.MustFilter("orders.*"), Format: format.Raw,
				Notify: func() { notifies.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// dispatched publishes one event per call (the feed sees them
			// one by one) and waits until the feed has dispatched them all.
			dispatched := func(n int) []uint64 {
				var ids []uint64
				for range n {
					ids = append(ids, publish(t, h, "orders.created")...)
				}
				waitFor(t, "the feed to dispatch", func() bool { return h.Head() >= ids[len(ids)-1] })
				return ids
			}
			var buf []byte
			read := func(want []uint64) {
				t.Helper()
				var got []frame
				waitFor(t, "the events", func() bool {
					var err error
					if buf, err = s.Next(buf, 1<<20); err != nil {
						t.Fatalf("Next: %v", err)
					}
					got = parseFrames(t, buf)
					return len(got) >= len(want)
				})
				expectIDs(t, "delivered", got, want)
				buf = buf[:0]
			}
			ids := dispatched(5)
			if n := notifies.Load(); n != 1 {
				t.Errorf("5 events queued before the subscriber read: %d notifies, want 1", n)
			}
			read(ids)
			ids = dispatched(3)
			if n := notifies.Load(); n != 2 {
				t.Errorf("3 more after a Next took the queue: %d notifies in all, want 2", n)
			}
			read(ids)
			// 8 queued fill the queue; the 9th overflows: a wake-up, and
			// the subscriber catches up from the log, in order.
			ids = dispatched(12)
			if n := notifies.Load(); n != 4 {
				t.Errorf("12 events past a queue of 8: %d notifies in all, want 4 (first, overflow)", n)
			}
			read(ids)
		})
	}
}

// TestOfferFieldsOnOneLine: what offer touches for every event (mu, ended,
// closed, lagging, held, queue) lies in the Subscriber's first 64 bytes,
// and a Subscriber's size keeps it in a size class of 64-byte multiples,
// so those fields share one cache line (see Subscriber). A field added
// above them, or one that moves the size off a multiple of 64, fails
// here: move it below, or pad.
func TestOfferFieldsOnOneLine(t *testing.T) {
	var s Subscriber
	end := unsafe.Offsetof(s.queue) + unsafe.Sizeof(s.queue)
	for _, off := range []uintptr{unsafe.Offsetof(s.mu), unsafe.Offsetof(s.ended), unsafe.Offsetof(s.closed),
		unsafe.Offsetof(s.lagging), unsafe.Offsetof(s.held), unsafe.Offsetof(s.queue)} {
		end = max(end, off)
	}
	if end > 64 {
		t.Errorf("offer's fields end at byte %d of a Subscriber, past its first cache line", end)
	}
	if size := unsafe.Sizeof(s); size%64 != 0 {
		t.Errorf("a Subscriber is %d bytes, not a multiple of 64: its objects are not all 64-byte aligned", size)
	}
}
