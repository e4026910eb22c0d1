// Package hub streams a store's log to many SSE subscribers: one live feed
// from the log per node, each event encoded once per format and shared,
// subscribers indexed by the topics they select so an event costs what it
// reaches, a bounded queue per subscriber, and catch-up from the hot tier or
// the log (in a bounded pool of readers) for subscribers that resume or
// fall behind.
//
// The hub also owns the state that must hold on every node: deregistered
// topics and revoked tokens. Changing it appends a control event (a
// reserved $sys. topic) to the log, which every node's live feed applies in
// log order, and records it in the store's KV so that a restart knows it.
package hub

import (
	"context"
	"errors"
	"fmt"
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
	// CatchUpReaders bounds the reads from the log that run at once for
	// subscribers catching up, so that a slow read (a disk, a network)
	// delays those subscribers and never the writers of the others.
	// Default 4.
	CatchUpReaders int
	// Logger receives the hub's logs (a malformed control event); default
	// slog.Default().
	Logger *slog.Logger
	// OnCommit, when set, is called after each append with its latency and
	// the number of events.
	OnCommit func(d time.Duration, events int)
}

// Errors a subscription ends with, returned by Subscribe and Next.
var (
	// ErrGone: a topic the subscriber asked for by name was deregistered.
	ErrGone = errors.New("topic deregistered")
	// ErrRevoked: the subscriber's token was revoked.
	ErrRevoked = errors.New("the token was revoked")
	// ErrExpired: the subscriber's token expired.
	ErrExpired = errors.New("the token expired")
	// ErrClosed: the subscription was closed.
	ErrClosed = errors.New("subscription closed")
)

// GoneError is the ErrGone of one topic.
type GoneError struct{ Topic string }

func (e *GoneError) Error() string { return fmt.Sprintf("topic %q has been deregistered", e.Topic) }

// Unwrap makes errors.Is(err, ErrGone) hold.
func (e *GoneError) Unwrap() error { return ErrGone }

// KV buckets the hub keeps its state in.
const (
	// DeregisteredBucket records deregistered topics.
	DeregisteredBucket = "deregistered_topics"
	// RevokedBucket records revoked token ids.
	RevokedBucket = "revoked_tokens"
)

// Hub fans the log's live feed out to subscribers.
type Hub struct {
	store   ssehub.Store
	opts    Options
	epoch   string
	caps    ssehub.Capabilities
	hot     *ring
	readers readPool

	// applyMu serialises the application of control events with their
	// OnEnd calls, so that RevokeToken returns only once every OnEnd of
	// the revocation was made here, whether it or the live feed applied
	// it. It is taken before mu.
	applyMu sync.Mutex
	mu      sync.Mutex
	idx     index                               // attached subscribers, by what they select
	subs    map[*Subscriber]struct{}            // every open subscription
	guards  map[string]map[*Subscriber]struct{} // by token id
	gone    map[string]struct{}                 // deregistered topics
	revoked map[string]struct{}                 // revoked token ids
	endq    []endCall                           // OnEnd calls to make once mu is released
	wakeq   []*Subscriber                       // dispatch's list of subscribers to wake (only the live feed's goroutine dispatches)
	lastID  atomic.Uint64                       // id of the last event dispatched

	encUsers [numEncodings]atomic.Int64
	running  atomic.Bool
	stats    Stats
}

// Stats are the hub's counters, read with atomic loads.
type Stats struct {
	Published   atomic.Uint64 // events appended (not counting duplicates)
	Duplicates  atomic.Uint64 // appends answered as duplicates
	Dispatched  atomic.Uint64 // events received from the live feed
	Deliveries  atomic.Uint64 // events written to subscribers
	CatchUps    atomic.Uint64 // times a live subscriber fell behind and caught up from the log
	Replays     atomic.Uint64 // subscriptions that started with a replay
	LogReads    atomic.Uint64 // catch-up reads from the log (not the hot tier)
	Subscribers atomic.Int64  // current subscribers
}

// New returns a hub over store, with the deregistered topics and revoked
// tokens the store's KV records. Call Run to start the live feed.
func New(ctx context.Context, store ssehub.Store, opts Options) (*Hub, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.HotEvents <= 0 {
		opts.HotEvents = 65536
	}
	if opts.HotBytes <= 0 {
		opts.HotBytes = 64 << 20
	}
	if opts.CatchUpReaders <= 0 {
		opts.CatchUpReaders = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	pos, err := store.Bounds(ctx)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	h := &Hub{store: store, opts: opts, epoch: pos.Epoch, caps: store.Capabilities(),
		hot: newRing(opts.HotEvents, opts.HotBytes), idx: newIndex(), subs: map[*Subscriber]struct{}{},
		guards: map[string]map[*Subscriber]struct{}{}, gone: map[string]struct{}{}, revoked: map[string]struct{}{}}
	h.readers.max = opts.CatchUpReaders
	h.lastID.Store(pos.Head)
	for bucket, set := range map[string]map[string]struct{}{DeregisteredBucket: h.gone, RevokedBucket: h.revoked} {
		err := store.List(ctx, bucket, func(key string, _ []byte) error {
			set[key] = struct{}{}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("hub: load %s: %w", bucket, err)
		}
	}
	return h, nil
}

// Store returns the hub's store.
func (h *Hub) Store() ssehub.Store { return h.store }

// Epoch returns the epoch of the hub's log.
func (h *Hub) Epoch() string { return h.epoch }

// Capabilities returns what the hub's store declares.
func (h *Hub) Capabilities() ssehub.Capabilities { return h.caps }

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
	err := h.store.Follow(ctx, h.lastID.Load(), h.dispatch)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Publish appends events to the log and returns once they are durable. An
// event to a deregistered topic fails the whole call with a *GoneError.
func (h *Hub) Publish(ctx context.Context, events []*ssehub.Event) ([]ssehub.AppendResult, error) {
	return h.publish(ctx, events, h.store.Append)
}

// publish is Publish with the store's append given (conditional.go).
func (h *Hub) publish(ctx context.Context, events []*ssehub.Event, appendFn func(context.Context, []*ssehub.Event) ([]ssehub.AppendResult, error)) ([]ssehub.AppendResult, error) {
	for _, ev := range events {
		if ssehub.IsSys(ev.Topic) {
			return nil, fmt.Errorf("hub: %q is a system topic", ev.Topic)
		}
	}
	h.mu.Lock()
	for _, ev := range events {
		if _, ok := h.gone[ev.Topic]; ok {
			h.mu.Unlock()
			return nil, &GoneError{Topic: ev.Topic}
		}
	}
	h.mu.Unlock()
	start := time.Now()
	res, err := appendFn(ctx, events)
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

// Bounds returns the log's position.
func (h *Hub) Bounds(ctx context.Context) (ssehub.Position, error) { return h.store.Bounds(ctx) }

// History calls fn for each retained event after `after` that f matches, in
// id order, up to the head when it starts (see ssehub.Log.Read).
func (h *Hub) History(ctx context.Context, after uint64, f ssehub.Filter, fn func(*ssehub.Event) error) error {
	return h.store.Read(ctx, after, f, fn)
}

// Topics lists the topics after `after`, at most limit (see ssehub.Topics).
func (h *Hub) Topics(ctx context.Context, after string, limit int) ([]ssehub.TopicInfo, error) {
	return h.store.Topics(ctx, after, limit)
}

// Topic returns one topic's info (see ssehub.Topics).
func (h *Hub) Topic(ctx context.Context, topic string) (ssehub.TopicInfo, error) {
	return h.store.Topic(ctx, topic)
}

// Last returns the topic's newest retained event (see ssehub.Topics).
func (h *Hub) Last(ctx context.Context, topic string) (*ssehub.Event, error) {
	return h.store.Last(ctx, topic)
}

// dispatch hands one event from the live feed to the hot tier and to the
// live subscribers it matches, without ever blocking on a subscriber. The
// event is owned: Follow hands it over and nobody modifies it.
func (h *Hub) dispatch(ev *ssehub.Event) error {
	it := &item{ev: ev}
	sys := ssehub.IsSys(ev.Topic)
	if !sys {
		// Encode once, before any subscriber can race to do it.
		for e := range encoding(numEncodings) {
			if h.encUsers[e].Load() > 0 {
				it.bytes(h, e)
			}
		}
	}
	// Ids are dense, so a hole means the feed skipped events that
	// retention removed before it got to them: nobody received them.
	hole := h.caps.DenseIDs && ev.ID > h.lastID.Load()+1
	if hole {
		h.hot.reset() // the tier's ids must have no holes
	}
	h.hot.add(it) // system events too, so the tier's ids have no holes
	h.stats.Dispatched.Add(1)
	if sys {
		h.applyMu.Lock()
		defer h.applyMu.Unlock()
	}
	h.mu.Lock()
	if hole {
		// Every live subscriber catches up from the log, which tells it
		// what retention removed (a gap event).
		for _, s := range h.idx.drain() {
			s.lag()
		}
	}
	if sys {
		h.applyLocked(ev)
	}
	h.lastID.Store(ev.ID)
	wake := h.wakeq[:0]
	limit := h.opts.QueueSize
	h.idx.each(ev.Topic, func(s *Subscriber) {
		keep, notify := s.offer(it, limit)
		if notify {
			wake = append(wake, s)
		}
		if !keep {
			h.idx.remove(s) // it catches up from the log by itself
		}
	})
	h.unlockEnds()
	// The wake-ups after the lock: a pump stream's Wake takes the pump's
	// run-queue lock and may signal a worker, and a dispatcher preempted
	// there would hold the hub lock meanwhile.
	for _, s := range wake {
		s.notify()
	}
	clear(wake)
	if cap(wake) > 1<<12 {
		wake = nil // a burst's list goes
	}
	h.wakeq = wake[:0]
	return nil
}
