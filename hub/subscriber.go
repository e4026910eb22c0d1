package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/sse"
)

// Credential is the token a subscription was made with: the hub ends the
// subscription when the token is revoked or expires.
type Credential struct {
	ID        string
	ExpiresAt time.Time // zero: never
}

// Resume is where a subscription starts, as a client asked.
type Resume struct {
	// Set reports that the client gave a position; otherwise the
	// subscription is live only.
	Set bool
	// Earliest starts from the oldest retained event.
	Earliest bool
	// After starts after this id.
	After uint64
	// Epoch is the log epoch the id came with ("42@k3x9"), or "" for a
	// plain id, which is taken to be of the current log.
	Epoch string
}

// testHookAttach, when set by a test, runs in Next just before a caught-up
// subscriber joins the live feed.
var testHookAttach func(*Subscriber)

// ErrBadID is wrapped by ParseResume's errors.
var ErrBadID = errors.New("not an event id")

// ParseResume parses a Last-Event-ID: "" (live only), "earliest", a
// decimal id, or an id with its log's epoch, "42@k3x9".
func ParseResume(s string) (Resume, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return Resume{}, nil
	case "earliest":
		return Resume{Set: true, Earliest: true}, nil
	}
	idText, epoch, qualified := strings.Cut(s, "@")
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil || (qualified && !validEpoch(epoch)) {
		return Resume{}, fmt.Errorf("%w: %q (want a decimal number, an id@epoch, or \"earliest\")", ErrBadID, s)
	}
	return Resume{Set: true, After: id, Epoch: epoch}, nil
}

func validEpoch(e string) bool {
	if e == "" || len(e) > 32 {
		return false
	}
	for i := 0; i < len(e); i++ {
		c := e[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// SubscribeOptions describe one subscription.
type SubscribeOptions struct {
	// Context, when set, ends the subscription's reads from the log when
	// done; Close ends them too.
	Context context.Context
	// Filter selects the topics.
	Filter ssehub.Filter
	// Topics are the topics the subscriber asked for by exact name: when
	// one is deregistered the subscription ends with ErrGone. Nil means
	// Filter's exact topics.
	Topics []string
	// Format renders events; it must be registered (package format).
	// Nil means format.Envelope.
	Format format.Format
	// EpochIDs sends ids with the log's epoch ("42@k3x9"), so that a
	// client resuming against a recreated log is recognised.
	EpochIDs bool
	// From is where to start; the zero value is live only.
	From Resume
	// Credential, when set, ends the subscription when the token is revoked
	// (on any node) or expires.
	Credential *Credential
	// Notify, when set, is called instead of waking Wait whenever Next may
	// have something new: a writer serving many subscribers uses it to
	// schedule this one. It may be called with the hub's lock held (the
	// live feed calls it after releasing the lock) and must not block. Such a subscriber does not use Wait, and its reads from
	// the log run in the hub's pool of readers instead of inside Next. It
	// must not call the hub or the subscription (Close, Next).
	Notify func()
	// OnEnd, when set, is called once if the hub ends the subscription
	// because its credential was revoked or expired, so that the caller can
	// cut the stream at once (Next returns the same error). It is called
	// after the hub's lock is released, on the goroutine that applied the
	// end (RevokeToken's caller, the live feed, a timer), so it may call
	// Close; it should return quickly, as the live feed waits for it, and
	// must not call RevokeToken or DeregisterTopic. RevokeToken returns
	// once the OnEnd calls of the subscriptions it ended here are made.
	OnEnd func(error)
}

// Subscriber is one subscription. Its Next and Wait methods are called
// from one goroutine at a time (the connection's writer); the hub's
// dispatcher only ever appends to its bounded queue, so a slow subscriber
// never slows others.
type Subscriber struct {
	// What the dispatcher touches for every event (offer), guarded by mu,
	// first: on the object's first cache line (64 bytes; a Subscriber is
	// 384 bytes, a size class whose objects are 64-byte aligned), so that
	// offering an event to many subscribers costs one line each beside the
	// queue's array. The rest that mu guards is below.
	mu      sync.Mutex
	ended   error // why the hub ended the subscription
	closed  bool
	lagging bool
	held    int // len(pending), for the queue bound
	queue   []*item

	h       *Hub
	ctx     context.Context
	cancel  context.CancelFunc
	filter  ssehub.Filter
	topics  []string
	enc     encoding
	session format.Session
	token   *Credential
	onEnd   func(error)
	expiry  *time.Timer

	// Owned by the goroutine calling Next.
	pos       uint64 // every matching event up to pos has been delivered
	attached  bool   // in the hub's index, receiving live events through the queue
	catchUpTo uint64 // when attached, events up to here come from the hot tier or log
	started   bool
	lagged    bool    // the queue overflowed: catch up once pending is written
	pre       []byte  // bytes due before anything else (a gap event)
	pending   []*item // taken from the queue, not written yet
	items     []*item // scratch for the hot tier
	timer     *time.Timer

	// Guarded by mu, with those at the top.
	endAt    uint64     // when ended but not urgent: the id of the control event; what is before it is due
	urgent   bool       // ended by its credential: send nothing more
	read     *readState // a catch-up read from the log, running or done
	wake     chan struct{}
	notifyFn func()
	once     sync.Once
}

// Subscribe registers a subscription. It fails with a *GoneError when a
// topic it names is deregistered, with ErrRevoked or ErrExpired for a dead
// credential, or when the log cannot report its position. The caller must
// Close a subscription it got.
func (h *Hub) Subscribe(opts SubscribeOptions) (*Subscriber, error) {
	f := opts.Format
	if f == nil {
		f = format.Envelope
	}
	_, fi, ok := format.Lookup(f.Name())
	if !ok || format.ByIndex(fi) != f {
		return nil, fmt.Errorf("hub: format %q is not registered", f.Name())
	}
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	s := &Subscriber{h: h, filter: opts.Filter, topics: opts.Topics, enc: encodingOf(fi, opts.EpochIDs),
		token: opts.Credential, onEnd: opts.OnEnd, notifyFn: opts.Notify}
	if s.topics == nil {
		s.topics = opts.Filter.ExactTopics()
	}
	if s.token != nil && !s.token.ExpiresAt.IsZero() && !time.Now().Before(s.token.ExpiresAt) {
		return nil, ErrExpired
	}
	var pos ssehub.Position
	if opts.From.Set {
		var err error
		if pos, err = h.store.Bounds(ctx); err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	if s.notifyFn == nil {
		s.wake = make(chan struct{}, 1)
	}
	if sf, ok := f.(format.SessionFormat); ok {
		s.session = sf.NewSession(format.SessionInfo{Context: s.ctx, Filter: s.filter})
	}

	h.mu.Lock()
	if err := h.registerLocked(s); err != nil {
		h.mu.Unlock()
		s.cancel()
		return nil, err
	}
	if !opts.From.Set {
		h.idx.add(s)
		s.attached = true
		s.pos = h.lastID.Load()
		s.catchUpTo = s.pos
	}
	h.mu.Unlock()
	h.encUsers[s.enc].Add(1)
	h.stats.Subscribers.Add(1)

	if opts.From.Set {
		h.stats.Replays.Add(1)
		s.start(opts.From, pos)
	}
	if s.token != nil && !s.token.ExpiresAt.IsZero() {
		// Under s.mu: the timer may fire, and its OnEnd call Close, before
		// AfterFunc returns.
		s.mu.Lock()
		s.expiry = time.AfterFunc(time.Until(s.token.ExpiresAt), func() {
			h.mu.Lock()
			h.idx.remove(s)
			s.end(ErrExpired, true, 0)
			h.unlockEnds()
		})
		s.mu.Unlock()
	}
	return s, nil
}

// start sets where a resuming subscription begins, and the gap event it
// gets first when the events after the client's id cannot all be sent.
func (s *Subscriber) start(from Resume, pos ssehub.Position) {
	switch {
	case from.Earliest:
		s.pos = pos.First - 1
	case from.Epoch != "" && from.Epoch != s.h.epoch:
		// An id of another instance of the log: none of the events now in
		// the log can have been seen, so send them all.
		s.setGap(from, pos, "epoch")
		s.pos = pos.First - 1
	case from.After > pos.Head:
		// An id beyond the head can only come from a log that lost its
		// history (a memory store restarted, a data dir replaced).
		s.setGap(from, pos, "unknown_id")
		s.pos = pos.First - 1
	case from.After+1 < pos.First:
		s.setGap(from, pos, "retention")
		s.pos = pos.First - 1
	default:
		s.pos = from.After
	}
}

// setGap sets the gap event:
//
//	event: gap
//	data: {"last_event_id":"41","earliest":"1000","reason":"retention"}
//
// earliest is the oldest event the stream continues with; reason is
// "retention" (events were removed), "epoch" (the id is of another
// instance of the log) or "unknown_id" (the log never assigned it).
func (s *Subscriber) setGap(from Resume, pos ssehub.Position, reason string) {
	last := strconv.FormatUint(from.After, 10)
	if from.Epoch != "" {
		last += "@" + from.Epoch
	}
	s.pre = appendGap(s.pre, last, pos.First, reason)
}

func appendGap(dst []byte, last string, earliest uint64, reason string) []byte {
	data := make([]byte, 0, 96)
	data = append(data, `{"last_event_id":"`...)
	data = append(data, last...)
	data = append(data, `","earliest":"`...)
	data = strconv.AppendUint(data, earliest, 10)
	data = append(data, `","reason":"`...)
	data = append(data, reason...)
	data = append(data, `"}`...)
	out, _ := sse.AppendEvent(dst, &sse.Event{Type: "gap", Data: data})
	return out
}

// Close ends the subscription and frees its resources: a Next or Wait
// under way returns (Next with ErrClosed), a read from the log under way
// stops, and Notify is not called for it afterwards. It is idempotent.
func (s *Subscriber) Close() {
	s.once.Do(func() {
		s.h.mu.Lock()
		s.h.unregisterLocked(s)
		s.h.mu.Unlock()
		s.mu.Lock()
		s.closed = true
		s.queue = nil
		expiry := s.expiry
		s.mu.Unlock()
		s.cancel()
		if expiry != nil {
			expiry.Stop()
		}
		// s.timer is Wait's, stopped by Wait itself before it returns.
		s.h.encUsers[s.enc].Add(-1)
		s.h.stats.Subscribers.Add(-1)
		if s.wake != nil {
			select { // a Wait under way returns; Next then says ErrClosed
			case s.wake <- struct{}{}:
			default:
			}
		}
	})
}

// enqueue is called by the dispatcher with the hub lock held. It reports
// false when the subscriber must leave the index (its queue overflowed, or
// it ended); an overflowed subscriber catches up from the log by itself.
func (s *Subscriber) enqueue(it *item) bool {
	keep, wake := s.offer(it, s.h.opts.QueueSize)
	if wake {
		s.notify()
	}
	return keep
}

// offer is enqueue without the wake-up: it reports whether s stays in the
// index and whether it must be notified, which the dispatcher does once
// the hub lock is released (the queue already holds the item then, so the
// wake-up finds it; a late wake-up of a subscriber that ended meanwhile
// does nothing).
//
// Only the item that finds the queue empty needs a wake-up: a queue that
// already holds items was woken when its first item came (by whoever
// appended it, once it released the hub lock) and has not been taken
// since, since Next takes the whole queue at once, under s.mu, as this
// append is; whoever takes it then takes this item too. So under load,
// when events come faster than a subscriber's writer takes them, an event
// costs its subscribers one append each and no wake-up (a pump stream's
// Wake touches two more objects per subscriber: at 19,000 subscribers it
// was a sixth of the hub's CPU).
//
// limit is the hub's QueueSize (the caller reads it once per event).
func (s *Subscriber) offer(it *item, limit int) (keep, wake bool) {
	s.mu.Lock()
	if s.closed || s.ended != nil {
		s.mu.Unlock()
		return false, false
	}
	if len(s.queue)+s.held >= limit {
		s.lagging = true
		s.mu.Unlock()
		return false, true
	}
	s.queue = append(s.queue, it)
	first := len(s.queue) == 1
	s.mu.Unlock()
	return true, first
}

// idleCap is the most queue capacity an idle subscriber keeps: a burst
// grows its queue to up to QueueSize pointers, which it gives back once it
// has nothing to send.
const idleCap = 16

// shrinkLocked drops the queue's and pending's arrays when they are empty
// and large; with s.mu held, on the goroutine calling Next.
func (s *Subscriber) shrinkLocked() {
	if len(s.queue) == 0 && cap(s.queue) > idleCap {
		s.queue = nil
	}
	if len(s.pending) == 0 && cap(s.pending) > idleCap {
		s.pending = nil
	}
}

// lag makes a subscriber the dispatcher took out of the index catch up
// from the log by itself, as an overflow does. Called with the hub's lock
// held.
func (s *Subscriber) lag() {
	s.mu.Lock()
	live := !s.closed && s.ended == nil
	if live {
		s.lagging = true
	}
	s.mu.Unlock()
	if live {
		s.notify()
	}
}

func (s *Subscriber) notify() {
	if s.notifyFn != nil {
		s.notifyFn()
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// end ends the subscription with err, once; urgent means nothing more is
// sent (a dead credential), otherwise the matching events with ids below
// at (the control event's) are sent first, in log order, then err. Called
// with the hub's lock held, which the caller releases with unlockEnds so
// that OnEnd runs after it.
func (s *Subscriber) end(err error, urgent bool, at uint64) {
	s.mu.Lock()
	first := s.ended == nil && !s.closed
	if first {
		s.ended, s.urgent, s.endAt = err, urgent, at
	}
	s.mu.Unlock()
	if !first {
		return
	}
	if urgent {
		s.cancel() // a read from the log under way stops: none of it is sent
	}
	s.notify()
	if urgent && s.onEnd != nil {
		s.h.endq = append(s.h.endq, endCall{s.onEnd, err})
	}
}

// endCall is an OnEnd call due once the hub's lock is released.
type endCall struct {
	fn  func(error)
	err error
}

// unlockEnds releases h.mu, then makes the OnEnd calls of the subscriptions
// ended while it was held: a callback may then call the hub (Close) without
// deadlocking it.
func (h *Hub) unlockEnds() {
	calls := h.endq
	h.endq = nil
	h.mu.Unlock()
	for _, c := range calls {
		c.fn(c.err)
	}
}

func (s *Subscriber) wantsExact(topic string) bool {
	for _, t := range s.topics {
		if t == topic {
			return true
		}
	}
	return false
}

// attach puts s in the index and returns the id of the last event
// dispatched before: s receives every later matching event through its
// queue.
func (h *Hub) attach(s *Subscriber) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.mu.Lock()
	ended, closed := s.ended, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return 0, ErrClosed
	case ended != nil:
		return 0, ended
	}
	h.idx.add(s)
	return h.lastID.Load(), nil
}

// Next appends the SSE bytes of the events that are ready to dst and
// returns it: at most maxBytes, or one event when a single event is larger
// (so one write is at most max(maxBytes, one event); a gap event counts as
// one, and the bytes a format session writes before an event count with
// it, though they are not known in advance); it returns dst
// unchanged when nothing is ready (call Wait, or wait for Notify, then Next
// again). While the subscriber catches up it reads the hot tier or the log.
// It returns an error when the subscription ended: ErrGone (a *GoneError)
// after the bytes still due; ErrRevoked or ErrExpired at once, with nothing
// appended, even when the end comes while Next reads the log; ErrClosed,
// with nothing appended, after Close (which may be called while Next runs).
func (s *Subscriber) Next(dst []byte, maxBytes int) ([]byte, error) {
	n0 := len(dst)
	if err := s.cut(); err != nil {
		return dst, err
	}
	out, err := s.next(dst, maxBytes)
	if cerr := s.cut(); cerr != nil {
		// Ended while this call ran (a revocation during a read from the
		// log, which the end cancelled): nothing it made may be sent.
		return out[:n0], cerr
	}
	return out, err
}

// cut returns the error of an end after which nothing more is sent:
// ErrClosed once closed, or an urgent end's.
func (s *Subscriber) cut() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.urgent:
		return s.ended
	}
	return nil
}

func (s *Subscriber) next(dst []byte, maxBytes int) ([]byte, error) {
	n0 := len(dst)
	room := func() int { return maxBytes - (len(dst) - n0) }
	if !s.started {
		s.started = true
		if s.session != nil {
			dst = s.session.Start(dst)
		}
	}
	if len(s.pre) > 0 {
		dst = append(dst, s.pre...)
		s.pre = nil
	}
	for {
		// The head before the end: an end applied by the live feed is
		// recorded before the feed moves past its control event, so a
		// head read first is never past an end not seen yet.
		head := s.h.lastID.Load()
		s.mu.Lock()
		ended, urgent, endAt := s.ended, s.urgent, s.endAt
		s.mu.Unlock()
		if urgent {
			return dst, ended
		}
		if room() <= 0 {
			return dst, nil
		}
		if !s.attached || s.pos < s.catchUpTo {
			upto := s.catchUpTo
			if !s.attached {
				upto = head
				if ended != nil {
					// Ended by a control event: what is before it is due,
					// even when this node applied it before its live feed
					// dispatched those events (the log has them).
					upto = endAt
				}
			}
			if s.pos < upto {
				var stop bool
				var err error
				before := len(dst)
				if dst, stop, err = s.catchUp(dst, n0, upto, maxBytes); err != nil || stop || len(dst) > before {
					return dst, err
				}
				continue
			}
			if !s.attached {
				if ended != nil {
					return dst, ended
				}
				if testHookAttach != nil {
					testHookAttach(s)
				}
				joined, err := s.h.attach(s)
				if err != nil {
					return dst, err
				}
				s.attached, s.catchUpTo = true, joined
				s.items = nil // the catch-up's scratch (up to readChunk pointers)
			}
			continue
		}

		// Live: what the dispatcher queued.
		s.mu.Lock()
		switch {
		case len(s.queue) == 0 && len(s.pending) == 0:
			s.shrinkLocked() // idle now
		case len(s.pending) == 0:
			s.pending, s.queue = s.queue, s.pending[:0] // no copy
		default:
			s.pending = append(s.pending, s.queue...)
			clear(s.queue)
			s.queue = s.queue[:0]
		}
		if s.lagging {
			s.lagged, s.lagging = true, false
		}
		s.held = len(s.pending)
		s.mu.Unlock()
		delivered, i := 0, 0
		for ; i < len(s.pending); i++ {
			it := s.pending[i]
			if it.ev.ID <= s.pos {
				continue
			}
			b := it.bytes(s.h, s.enc)
			if len(dst) > n0 && len(b) > room() {
				break // the next write takes it
			}
			if s.session != nil {
				dst = s.session.Before(dst, it.ev)
			}
			dst = append(dst, b...)
			s.pos = it.ev.ID
			delivered++
		}
		rest := copy(s.pending, s.pending[i:])
		clear(s.pending[rest:])
		s.pending = s.pending[:rest]
		s.mu.Lock()
		s.held = rest
		s.mu.Unlock()
		s.h.stats.Deliveries.Add(uint64(delivered))
		switch {
		case rest > 0:
			return dst, nil
		case ended != nil && s.pos >= endAt:
			return dst, ended
		case ended != nil:
			// Events before the control event that the live feed had not
			// dispatched when the end was applied: catch them up.
			s.lagged, s.attached = false, false
			continue
		case !s.lagged:
			return dst, nil
		}
		// The dispatcher left us out; catch up from the last delivered id.
		s.lagged, s.attached = false, false
		s.h.stats.CatchUps.Add(1)
		if len(dst) > n0 {
			return dst, nil
		}
	}
}

// Wait blocks until Next may have something (true), idle passes with
// nothing to send (false; idle <= 0 waits forever), or ctx is done. It holds
// no buffer while it waits, so an idle subscriber costs little memory.
func (s *Subscriber) Wait(ctx context.Context, idle time.Duration) (bool, error) {
	if !s.started || len(s.pre) > 0 || len(s.pending) > 0 || s.lagged || !s.attached || s.pos < s.catchUpTo {
		return true, nil
	}
	s.mu.Lock()
	ready := len(s.queue) > 0 || s.lagging || s.ended != nil || s.closed
	if !ready {
		s.shrinkLocked()
	}
	s.mu.Unlock()
	if ready {
		return true, nil
	}
	if idle <= 0 {
		select {
		case <-s.wake:
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	if s.timer == nil {
		s.timer = time.NewTimer(idle)
	} else {
		s.timer.Reset(idle)
	}
	select {
	case <-s.wake:
		s.timer.Stop()
		return true, nil
	case <-ctx.Done():
		s.timer.Stop()
		return false, ctx.Err()
	case <-s.timer.C:
		return false, nil
	}
}
