package hub

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
)

// sessionFormat is a format.SessionFormat for these tests: its Start writes
// a "start" event naming the filter, its Before a "before" event naming
// the event it precedes, so a stream shows every call in order.
type sessionFormat struct{}

func (sessionFormat) Name() string { return "test-session" }

func (sessionFormat) Encode(dst []byte, ev *ssehub.Event, id string) []byte {
	return fmt.Appendf(dst, "id: %s\ndata: %s\n\n", id, ev.Data)
}

func (sessionFormat) NewSession(info format.SessionInfo) format.Session {
	sessionsMu.Lock()
	defer sessionsMu.Unlock()
	s := &testSession{info: info}
	sessions = append(sessions, s)
	return s
}

var (
	sessionsMu sync.Mutex
	sessions   []*testSession
)

type testSession struct {
	info   format.SessionInfo
	starts int
	last   uint64
	order  bool // Before came in id order
}

func (s *testSession) Start(dst []byte) []byte {
	s.starts++
	return fmt.Appendf(dst, "event: start\ndata: %s\n\n", s.info.Filter)
}

func (s *testSession) Before(dst []byte, ev *ssehub.Event) []byte {
	if ev.ID <= s.last {
		s.order = false
	}
	s.last = ev.ID
	return fmt.Appendf(dst, "event: before\ndata: %d\n\n", ev.ID)
}

func init() { format.MustRegister(sessionFormat{}) }

// checkSession checks a session stream: one start event first, then each
// event preceded by its before event, and returns the events.
func checkSession(t *testing.T, frames []frame, filter string) []frame {
	t.Helper()
	if len(frames) == 0 || frames[0].typ != "start" || frames[0].data != filter {
		t.Fatalf("the stream does not begin with Start: %v", frames)
	}
	var evs []frame
	for i := 1; i < len(frames); i++ {
		f := frames[i]
		switch f.typ {
		case "start":
			t.Fatalf("Start again at %d", i)
		case "gap":
			continue
		case "before":
			if i+1 >= len(frames) || frames[i+1].typ != "message" || strconv.FormatUint(idOf(t, frames[i+1]), 10) != f.data {
				t.Fatalf("before %s at %d is not followed by its event: %v", f.data, i, frames[i:min(i+2, len(frames))])
			}
		case "message":
			if frames[i-1].typ != "before" {
				t.Fatalf("event %s at %d has no before event", f.id, i)
			}
			evs = append(evs, f)
		}
	}
	return evs
}

// TestFormatSession: a SessionFormat gets one session per subscription:
// Start once, before anything, and Before for each event, in id order,
// whether the event comes from the log, the hot tier or the live feed, and
// across an overflow and its catch-up; the session's Context ends with the
// subscription.
func TestFormatSession(t *testing.T) {
	for _, kind := range storeKinds {
		for _, mode := range []string{"wait", "notify"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				store := openStore(t, kind, ssehub.Retention{})
				h0 := newHub(t, store, Options{})
				var ids []uint64
				for range 10 {
					ids = append(ids, publish(t, h0, "a", "b")...) // in the log only
				}
				h := newHub(t, store, Options{QueueSize: 3, HotEvents: 8})
				run(t, h)
				sessionsMu.Lock()
				n0 := len(sessions)
				sessionsMu.Unlock()
				f := ssehub.MustFilter("a")
				r := mustSubscribe(t, h, mode, SubscribeOptions{Filter: f, Format: sessionFormat{}, From: Resume{Set: true, Earliest: true}})
				r.max = 100 // an event or two per write
				var want []uint64
				for i, id := range ids {
					if i%2 == 0 {
						want = append(want, id)
					}
				}
				// From the log, until the subscriber joins the live feed.
				head := ids[len(ids)-1]
				if err := r.until(func() bool { return r.sub.attached && r.sub.pos >= head }); err != nil {
					t.Fatal(err)
				}
				// Live, then an overflow (queue of 3) caught up from the
				// hot tier and the log.
				for range 2 {
					var last uint64
					for range 12 {
						ab := publish(t, h, "a", "b")
						want = append(want, ab[0])
						last = ab[1]
					}
					waitFor(t, "the feed", func() bool { return h.Head() >= last })
					r.readN(len(want))
				}
				evs := checkSession(t, r.frames, "a")
				expectIDs(t, "session stream", evs, want)
				if h.Stats().CatchUps.Load() == 0 {
					t.Error("no overflow happened")
				}
				sessionsMu.Lock()
				ss := sessions[n0:]
				sessionsMu.Unlock()
				if len(ss) != 1 {
					t.Fatalf("%d sessions for one subscription", len(ss))
				}
				s := ss[0]
				if s.starts != 1 || s.info.Filter.String() != "a" {
					t.Errorf("session: %d starts, filter %q", s.starts, s.info.Filter)
				}
				if s.info.Context.Err() != nil {
					t.Error("the session's context ended early")
				}
				r.sub.Close()
				if s.info.Context.Err() != context.Canceled {
					t.Error("the session's context did not end with the subscription")
				}
			})
		}
	}
}
