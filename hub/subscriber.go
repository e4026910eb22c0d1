package hub

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
)

// SubscribeOptions describe one subscription.
type SubscribeOptions struct {
	// Match selects the topics.
	Match ssehub.Matcher
	// Topics are the topics the subscriber asked for by exact name: when one
	// is deregistered the subscription ends with ErrGone.
	Topics []string
	// Format is how events are rendered.
	Format Format
	// Resume starts from After (events with greater ids) instead of live.
	Resume bool
	After  uint64
	// Earliest starts from the oldest retained event (implies Resume).
	Earliest bool
	// Notify, when set, is called instead of waking Wait whenever Next may
	// have something new: a writer serving many subscribers uses it to
	// schedule this one. It is called with the hub's lock held and must
	// not block. Such a subscriber does not use Wait.
	Notify func()
}

// readChunk bounds how many hot-tier items one catch-up step copies out.
const readChunk = 4096

var (
	errStopBytes = errors.New("stop: batch full")
	errStopRange = errors.New("stop: end of range")
)

// Subscriber is one subscription. Its Next method is called from a single
// goroutine (the connection's writer); the hub's dispatcher only ever
// appends to its bounded queue, so a slow subscriber never slows others.
type Subscriber struct {
	h      *Hub
	match  ssehub.Matcher
	topics []string
	format Format

	// Owned by the Next goroutine.
	pos       uint64 // every matching event up to pos has been delivered
	attached  bool   // receiving live events through the queue
	catchUpTo uint64 // when attached, events up to here come from the hot tier or log
	gap       []byte // a pending gap event
	scratch   []byte
	items     []*item
	spare     []*item
	timer     *time.Timer

	mu       sync.Mutex
	queue    []*item
	lagging  bool
	isGone   bool
	closed   bool
	wake     chan struct{} // nil when notifyFn is set
	notifyFn func()
	once     sync.Once
}

// Subscribe registers a subscription. The caller must Close it.
func (h *Hub) Subscribe(opts SubscribeOptions) *Subscriber {
	s := &Subscriber{h: h, match: opts.Match, topics: opts.Topics, format: opts.Format, notifyFn: opts.Notify}
	if s.notifyFn == nil {
		s.wake = make(chan struct{}, 1)
	}
	h.formatUsers[s.format].Add(1)
	h.stats.Subscribers.Add(1)
	if !opts.Resume && !opts.Earliest {
		// Live only: attach now; attach cannot fail with ErrGone here
		// because callers check Gone first, and if it races, Next reports it.
		if joined, err := h.attach(s); err == nil {
			s.pos, s.catchUpTo, s.attached = joined, joined, true
		} else {
			s.markGone()
		}
		return s
	}
	h.stats.Replays.Add(1)
	first, head := h.log.Bounds()
	switch {
	case opts.Earliest:
		s.pos = first - 1
	case opts.After > head:
		// An id beyond the head can only come from a log that lost its
		// history (a memory store restarted, a data dir replaced): none of
		// the events now in the log can have been seen, so send them all.
		s.setGap(opts.After, first)
		s.pos = first - 1
	case opts.After+1 < first:
		s.setGap(opts.After, first)
		s.pos = first - 1
	default:
		s.pos = opts.After
	}
	return s
}

func (s *Subscriber) setGap(lastEventID, earliest uint64) {
	g := append(s.gap[:0], "event: gap\ndata: {\"last_event_id\":\""...)
	g = strconv.AppendUint(g, lastEventID, 10)
	g = append(g, "\",\"earliest\":\""...)
	g = strconv.AppendUint(g, earliest, 10)
	s.gap = append(g, "\"}\n\n"...)
}

// Pos returns the id up to which every matching event has been delivered.
func (s *Subscriber) Pos() uint64 { return s.pos }

// Close ends the subscription and frees its resources. It is idempotent.
func (s *Subscriber) Close() {
	s.once.Do(func() {
		s.h.detach(s)
		s.mu.Lock()
		s.closed = true
		s.queue = nil
		s.mu.Unlock()
		if s.timer != nil {
			s.timer.Stop()
		}
		s.h.formatUsers[s.format].Add(-1)
		s.h.stats.Subscribers.Add(-1)
	})
}

// enqueue is called by the dispatcher with the hub lock held. It reports
// false when the subscriber must be detached (its queue overflowed, or it is
// closed); an overflowed subscriber catches up from the log by itself.
func (s *Subscriber) enqueue(it *item) bool {
	s.mu.Lock()
	if s.closed || s.isGone {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) >= s.h.opts.QueueSize {
		s.lagging = true
		s.mu.Unlock()
		s.notify()
		return false
	}
	s.queue = append(s.queue, it)
	s.mu.Unlock()
	s.notify()
	return true
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

func (s *Subscriber) markGone() {
	s.mu.Lock()
	s.isGone = true
	s.mu.Unlock()
	s.notify()
}

// gone is called by the hub (lock held) when a topic s asked for is deregistered.
func (s *Subscriber) gone() { s.markGone() }

func (s *Subscriber) wantsExact(topic string) bool {
	for _, t := range s.topics {
		if t == topic {
			return true
		}
	}
	return false
}

// Next appends the SSE bytes of the events that are ready to dst, up to
// about maxBytes, and returns it; it returns dst unchanged when nothing is
// ready (call Wait, then Next again). While the subscriber is catching up it
// reads the hot tier or the log. It returns ErrGone, after any bytes still
// due, when a topic the subscription named was deregistered. Next and Wait
// are called from one goroutine.
func (s *Subscriber) Next(ctx context.Context, dst []byte, maxBytes int) ([]byte, error) {
	n0 := len(dst)
	if s.gap != nil {
		dst = append(dst, s.gap...)
		s.gap = nil
	}
	for {
		if !s.attached {
			target := s.h.lastID.Load()
			if s.pos < target {
				var err error
				if dst, err = s.readRange(ctx, dst, target, maxBytes); err != nil || len(dst) > n0 {
					return dst, err
				}
				continue
			}
			joined, err := s.h.attach(s)
			if err != nil {
				return dst, err
			}
			s.attached, s.catchUpTo = true, joined
			continue
		}
		if s.pos < s.catchUpTo {
			var err error
			if dst, err = s.readRange(ctx, dst, s.catchUpTo, maxBytes); err != nil || len(dst) > n0 {
				return dst, err
			}
			continue
		}

		s.mu.Lock()
		q := s.queue
		s.queue = s.spare[:0]
		lag, gone := s.lagging, s.isGone
		s.lagging = false
		s.mu.Unlock()
		delivered := 0
		for i, it := range q {
			if it.ev.ID > s.pos {
				dst = append(dst, it.bytes(s.format)...)
				s.pos = it.ev.ID
				delivered++
			}
			q[i] = nil
		}
		s.spare = q[:0]
		s.h.stats.Deliveries.Add(uint64(delivered))
		if gone {
			return dst, ErrGone
		}
		if !lag {
			return dst, nil
		}
		// The dispatcher detached us; catch up from the last delivered id.
		s.attached = false
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
	if s.gap != nil || !s.attached || s.pos < s.catchUpTo {
		return true, nil
	}
	s.mu.Lock()
	ready := len(s.queue) > 0 || s.lagging || s.isGone
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

// readRange appends matching events with s.pos < id <= upto from the hot
// tier, or from the log when the hot tier no longer has them, stopping
// after about maxBytes. It advances s.pos over everything it scanned.
func (s *Subscriber) readRange(ctx context.Context, dst []byte, upto uint64, maxBytes int) ([]byte, error) {
	if items, ok := s.h.hot.collect(s.items[:0], s.pos, upto, readChunk); ok {
		delivered := 0
		full := false
		for i, it := range items {
			if s.match.Match(it.ev.Topic) {
				dst = append(dst, it.bytes(s.format)...)
				delivered++
			}
			s.pos = it.ev.ID
			items[i] = nil
			if len(dst) >= maxBytes {
				full = true
				break
			}
		}
		if !full && len(items) < readChunk {
			s.pos = upto
		}
		s.items = items[:0]
		s.h.stats.Deliveries.Add(uint64(delivered))
		return dst, nil
	}

	first, _ := s.h.log.Bounds()
	if s.pos+1 < first {
		// Retention removed events this subscriber had not received yet.
		s.setGap(s.pos, first)
		dst = append(dst, s.gap...)
		s.gap = nil
		s.pos = first - 1
	}
	delivered := 0
	err := s.h.log.Read(ctx, s.pos, s.match, func(ev *ssehub.Event) error {
		if ev.ID > upto {
			return errStopRange
		}
		dst, s.scratch = AppendSSE(dst, s.scratch, ev, s.format)
		s.pos = ev.ID
		delivered++
		if len(dst) >= maxBytes {
			return errStopBytes
		}
		return nil
	})
	s.h.stats.Deliveries.Add(uint64(delivered))
	switch {
	case err == nil, errors.Is(err, errStopRange):
		s.pos = max(s.pos, upto)
		return dst, nil
	case errors.Is(err, errStopBytes):
		return dst, nil
	}
	return dst, err
}
