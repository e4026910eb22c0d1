package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/ssehub/ssehub"
)

// readChunk bounds how many hot-tier items one catch-up step copies out.
const readChunk = 4096

var (
	errStopBytes = errors.New("stop: batch full")
	errStopRange = errors.New("stop: end of range")
)

// catchUp appends matching events with s.pos < id <= upto from the hot
// tier, or from the log when the hot tier does not have them (it holds no
// more than what the live feed dispatched; upto may be beyond that when a
// control event applied here ended the subscription). What this Next call
// wrote, dst[n0:], and what catchUp adds stay within maxBytes, except that
// one event alone may be larger. It advances s.pos over everything it
// scanned. stop reports that Next must return now: the write is full, or a
// read from the log is under way in the hub's pool (Notify is called when
// it is done).
func (s *Subscriber) catchUp(dst []byte, n0 int, upto uint64, maxBytes int) (out []byte, stop bool, err error) {
	hotUpto := min(upto, s.h.lastID.Load()) // the tier holds every id up to the head
	if s.pos >= hotUpto || s.reading() {
		// A pooled read under way or done is taken first: serving its range
		// from the tier meanwhile would send those events twice.
		return s.readLog(dst, n0, upto, maxBytes)
	}
	items, ok := s.h.hot.collect(s.items[:0], s.pos, hotUpto, readChunk)
	if !ok {
		return s.readLog(dst, n0, upto, maxBytes)
	}
	delivered, full := 0, false
	for i, it := range items {
		if s.filter.Match(it.ev.Topic) {
			b := it.bytes(s.h, s.enc)
			if len(dst) > n0 && len(dst)-n0+len(b) > maxBytes {
				full = true
				break
			}
			if s.session != nil {
				dst = s.session.Before(dst, it.ev)
			}
			dst = append(dst, b...)
			delivered++
		}
		s.pos = it.ev.ID
		items[i] = nil
	}
	if !full && len(items) < readChunk {
		s.pos = max(s.pos, hotUpto) // the tier held everything up to hotUpto
	}
	clear(items)
	s.items = items[:0]
	s.h.stats.Deliveries.Add(uint64(delivered))
	return dst, full, nil
}

// readState is a read from the log for one subscriber.
type readState struct {
	after uint64 // where it starts: the subscriber's position when submitted
	done  bool
	res   readResult
}

// reading reports whether a pooled read was submitted and not taken.
func (s *Subscriber) reading() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read != nil
}

// readResult is what one read from the log produced.
type readResult struct {
	buf       []byte // the encoded events (and a gap event)
	pos       uint64 // the subscriber's position after them
	delivered int
	full      bool // it stopped at an event that did not fit
	err       error
}

// readLog reads the next part of the range from the log. A subscriber with
// its own goroutine reads here, within the pool's limit; one served by a
// shared writer (Notify set) has the read done by the pool and returns at
// once, so a slow read never holds a writer other streams need.
func (s *Subscriber) readLog(dst []byte, n0 int, upto uint64, maxBytes int) ([]byte, bool, error) {
	if s.notifyFn == nil {
		if err := s.h.readers.acquire(s.ctx); err != nil {
			return dst, false, err
		}
		r := s.read1(s.pos, upto, maxBytes-(len(dst)-n0), len(dst) > n0)
		s.h.readers.release()
		return s.take(dst, r)
	}
	s.mu.Lock()
	st := s.read
	if st != nil && st.done && st.after != s.pos {
		st, s.read = nil, nil // stale: the position moved since; read again
	}
	switch {
	case st == nil:
		after := s.pos
		st = &readState{after: after}
		s.read = st
		s.mu.Unlock()
		// A whole write's worth: the result is taken by a later Next
		// call, which has written nothing before it.
		s.h.readers.submit(func() {
			r := s.read1(after, upto, maxBytes, false)
			s.mu.Lock()
			st.done, st.res = true, r
			closed := s.closed
			s.mu.Unlock()
			if !closed {
				s.notify()
			}
		})
		return dst, true, nil
	case !st.done:
		s.mu.Unlock()
		return dst, true, nil
	case len(dst) > n0 && len(dst)-n0+len(st.res.buf) > maxBytes:
		// It does not fit beside what this call wrote: the next one takes
		// it (the caller calls again, as it got bytes).
		s.mu.Unlock()
		return dst, true, nil
	}
	s.read = nil
	s.mu.Unlock()
	return s.take(dst, st.res)
}

// take appends a finished read's bytes and moves the position past it; it
// reports whether the write is full.
func (s *Subscriber) take(dst []byte, r readResult) ([]byte, bool, error) {
	dst = append(dst, r.buf...)
	if r.pos > s.pos {
		s.pos = r.pos
	}
	s.h.stats.Deliveries.Add(uint64(r.delivered))
	return dst, r.full, r.err
}

// read1 reads matching events after `after`, up to upto, into at most room
// bytes, except that the first event may be larger when nothing precedes
// it (written reports that the write already holds bytes). It runs on the
// goroutine calling Next, or in the pool while that goroutine waits for
// it, never both at once.
func (s *Subscriber) read1(after, upto uint64, room int, written bool) readResult {
	r := readResult{pos: after}
	if err := s.ctx.Err(); err != nil {
		r.err = err
		return r
	}
	s.h.stats.LogReads.Add(1)
	pos, err := s.h.store.Bounds(s.ctx)
	if err != nil {
		r.err = err
		return r
	}
	if r.pos+1 < pos.First {
		// Retention removed events this subscriber had not received yet.
		// The last id it got, as it got it (with the epoch or not).
		r.buf = appendGap(r.buf, string(s.h.appendID(nil, r.pos, s.enc)), pos.First, "retention")
		r.pos = pos.First - 1
	}
	err = s.h.store.Read(s.ctx, r.pos, s.filter, func(ev *ssehub.Event) error {
		if ev.ID > upto {
			return errStopRange
		}
		mark := len(r.buf)
		r.buf = s.h.encode(r.buf, ev, s.enc)
		if (written || mark > 0) && len(r.buf) > room {
			r.buf = r.buf[:mark] // the next read starts with it
			return errStopBytes
		}
		if s.session != nil {
			if pre := s.session.Before(nil, ev); len(pre) > 0 {
				r.buf = slices.Insert(r.buf, mark, pre...)
			}
		}
		r.pos = ev.ID
		r.delivered++
		return nil
	})
	switch {
	case err == nil, errors.Is(err, errStopRange):
		r.pos = max(r.pos, upto)
	case errors.Is(err, errStopBytes):
		r.full = true
	default:
		r.err = err
	}
	return r
}

// readPool runs catch-up reads from the log, at most max at once: reads
// submitted by subscribers served by shared writers queue here, and
// subscribers with their own goroutine take a place with acquire.
type readPool struct {
	max     int
	once    sync.Once
	sem     chan struct{} // a token per read running
	mu      sync.Mutex
	queue   []func()
	workers int
}

func (p *readPool) init() { p.once.Do(func() { p.sem = make(chan struct{}, p.max) }) }

// submit queues job; a worker runs it soon.
func (p *readPool) submit(job func()) {
	p.init()
	p.mu.Lock()
	p.queue = append(p.queue, job)
	spawn := p.workers < p.max
	if spawn {
		p.workers++
	}
	p.mu.Unlock()
	if spawn {
		go p.work()
	}
}

// work runs queued jobs until none is left; workers do not outlive the
// queue, so an idle hub holds none.
func (p *readPool) work() {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.workers--
			p.queue = nil
			p.mu.Unlock()
			return
		}
		job := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.mu.Unlock()
		p.sem <- struct{}{}
		job()
		<-p.sem
	}
}

// acquire takes a place for a read run by its caller.
func (p *readPool) acquire(ctx context.Context) error {
	p.init()
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hub: waiting to read the log: %w", ctx.Err())
	}
}

func (p *readPool) release() { <-p.sem }
