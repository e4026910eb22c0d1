// Package hub streams a log to many SSE subscribers: one live feed from the
// log per node, each event encoded once per format and shared, a bounded
// queue per subscriber, and catch-up from the hot tier or the log for
// subscribers that resume or fall behind.
package hub

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub"
)

// Options tune a Hub. Zero values take the defaults.
type Options struct {
	// QueueSize bounds the events queued for one live subscriber; past it the
	// subscriber switches to catch-up from the log. Default 1024.
	QueueSize int
	// HotEvents and HotBytes bound the in-memory hot tier. Defaults 65536
	// events and 64 MiB.
	HotEvents int
	HotBytes  int64
	// Logger receives the hub's logs; default slog.Default().
	Logger *slog.Logger
	// OnCommit, when set, is called after each append with its latency and
	// the number of events.
	OnCommit func(d time.Duration, events int)
}

// ErrGone is returned by Subscriber.Next when a topic the subscriber asked
// for by name has been deregistered.
var ErrGone = errors.New("topic deregistered")

// Hub fans the log's live feed out to subscribers.
type Hub struct {
	log  ssehub.Log
	opts Options
	hot  *ring

	mu     sync.Mutex
	subs   map[*Subscriber]struct{}
	gone   map[string]struct{} // deregistered topics
	lastID atomic.Uint64       // id of the last event dispatched to live subscribers

	formatUsers [numFormats]atomic.Int64
	running     atomic.Bool
	stats       Stats
}

// Stats are the hub's counters, read with atomic loads.
type Stats struct {
	Published   atomic.Uint64 // events appended (not counting duplicates)
	Duplicates  atomic.Uint64 // appends answered as duplicates
	Dispatched  atomic.Uint64 // events received from the live feed
	Deliveries  atomic.Uint64 // events written to subscribers
	CatchUps    atomic.Uint64 // times a live subscriber fell behind and caught up from the log
	Replays     atomic.Uint64 // subscriptions that started with a replay
	Subscribers atomic.Int64  // current subscribers
}

// New returns a hub over log. Call Run to start the live feed.
func New(log ssehub.Log, opts Options) *Hub {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.HotEvents <= 0 {
		opts.HotEvents = 65536
	}
	if opts.HotBytes <= 0 {
		opts.HotBytes = 64 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Hub{log: log, opts: opts, hot: newRing(opts.HotEvents, opts.HotBytes), subs: map[*Subscriber]struct{}{}, gone: map[string]struct{}{}}
	_, head := log.Bounds()
	h.lastID.Store(head)
	return h
}

// Log returns the hub's log.
func (h *Hub) Log() ssehub.Log { return h.log }

// Stats returns the hub's live counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// Ready reports whether the live feed is running.
func (h *Hub) Ready() bool { return h.running.Load() }

// Head returns the id of the last event dispatched to live subscribers.
func (h *Hub) Head() uint64 { return h.lastID.Load() }

// Run follows the log and dispatches every new event until ctx is done.
func (h *Hub) Run(ctx context.Context) error {
	h.running.Store(true)
	defer h.running.Store(false)
	err := h.log.Follow(ctx, h.lastID.Load(), h.dispatch)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Publish appends events to the log and returns once they are durable.
func (h *Hub) Publish(ctx context.Context, events []*ssehub.Event) ([]ssehub.AppendResult, error) {
	start := time.Now()
	res, err := h.log.Append(ctx, events)
	if err != nil {
		return nil, err
	}
	if h.opts.OnCommit != nil {
		h.opts.OnCommit(time.Since(start), len(events))
	}
	for _, r := range res {
		if r.Duplicate {
			h.stats.Duplicates.Add(1)
		} else {
			h.stats.Published.Add(1)
		}
	}
	return res, nil
}

// dispatch hands one event from the live feed to the hot tier and to every
// matching live subscriber, without ever blocking on a subscriber.
func (h *Hub) dispatch(ev *ssehub.Event) error {
	it := &item{ev: *ev}
	if len(ev.Data) > 0 {
		it.ev.Data = append([]byte(nil), ev.Data...)
	}
	if len(ev.Meta) > 0 {
		it.ev.Meta = append([]byte(nil), ev.Meta...)
	}
	// Encode once, before any subscriber can race to do it.
	for f := Format(0); f < numFormats; f++ {
		if h.formatUsers[f].Load() > 0 {
			it.bytes(f)
		}
	}
	h.hot.add(it)
	h.stats.Dispatched.Add(1)
	h.mu.Lock()
	h.lastID.Store(ev.ID)
	for s := range h.subs {
		if s.match.Match(ev.Topic) {
			if !s.enqueue(it) {
				delete(h.subs, s)
			}
		}
	}
	h.mu.Unlock()
	return nil
}

// attach makes s live and returns the id of the last event dispatched
// before it: s receives every later matching event through its queue. It
// fails with ErrGone when s asked for a deregistered topic meanwhile.
func (h *Hub) attach(s *Subscriber) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t := range h.gone {
		if s.wantsExact(t) {
			return 0, ErrGone
		}
	}
	h.subs[s] = struct{}{}
	return h.lastID.Load(), nil
}

func (h *Hub) detach(s *Subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// DeregisterTopic closes every live subscriber that asked for topic by
// exact name; they receive ErrGone from Next.
func (h *Hub) DeregisterTopic(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.wantsExact(topic) {
			delete(h.subs, s)
			s.gone()
		}
	}
	// Subscribers still catching up are not attached; they check on attach.
	h.gone[topic] = struct{}{}
}

// Gone reports whether topic has been deregistered.
func (h *Hub) Gone(topic string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.gone[topic]
	return ok
}
