package pump

import (
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/internal/netpoll"
)

// How a stream is scheduled, and why no wake-up is lost.
//
// The state word (state) moves so; no other transition exists:
//
//	idle -> queued            Wake (CAS), which then pushes the stream on the run queue
//	queued -> running         the worker that popped it (Store)
//	running -> dirty          Wake (CAS): serve again before going idle
//	running -> idle           the worker, when serve has nothing more (CAS: fails if dirty)
//	running, dirty -> queued  the worker: woken meanwhile or turn used up; then pushed
//	running, dirty -> done    finish, on the worker; done is final
//
// Add holds a new stream at running (or dirty) while it registers it, then
// stores idle and wakes it once, which covers whatever came meanwhile. So
// a stream is on the run queue at most once and served by one worker at a
// time. Every cause of work is recorded before Wake is called: bytes in
// the Source (its own state), Close (cause, then closing; abort before
// them when the stream must end at once), a heartbeat due (hbDue), the
// socket writable while bytes are pending (the kernel's state). Wake then
// finds the stream idle (it queues it), queued (a serve that has not
// started yet will see the record), running (it marks it dirty: the
// worker's CAS to idle fails and it serves again) or dirty or done
// (nothing to add). Go's atomics and mutexes are sequentially consistent,
// so a serve that starts after Wake's load sees every record made before
// it: nothing is lost between a record and a worker going idle. Edge by
// edge:
//
//   - Writable vs pending bytes. armed is set before every write system
//     call and cleared only by the worker once nothing is pending. A short
//     write or EAGAIN marks the socket, and the kernel reports EPOLLOUT
//     (edge-triggered) for room made after that, so after armed was set:
//     polled always finds it and wakes the stream. The write is itself the
//     readiness check made after arming. A Writable during a write, or once
//     all is written, costs one spare serve. (The pending time used to be
//     the mark, recorded after the short write, and the poller dropped a
//     Writable that came in between: the stream stalled until the write
//     timeout.)
//   - Close vs a running worker: serve looks at abort and closing when it
//     starts and before each Next, so a Close during a write stops the turn
//     before the next one, and a Close after the last look makes the
//     stream dirty (or queued).
//   - hbDue vs serve: the ticker stores hbDue, then wakes. Every serve that
//     gets past pending bytes clears it, writing the ping if it wrote
//     nothing else; one that does not leaves bytes pending, and their
//     Writable (above) brings the next serve.
//   - pendingSince vs the ticker: only the worker writes it, the ticker only
//     reads it to time a stream out (abort, Close, Wake). No wake-up waits
//     on it; at worst a stream times out as its client takes a byte.
//   - Closed vs finish: the poller sets abort and closes (then wakes);
//     finish stops the watch before it closes the fd. A Closed after finish
//     finds the stream done. The poller reports Closed once per watch.
//   - The end: the tail (final bytes, last chunk) goes into pending after
//     what the Source returned and is written like any pending bytes, so
//     it is woken by Writable and bounded by the write timeout; on shutdown
//     it gets one try (Pump.Close does not wait for slow clients).
//   - The run queue: push and pop hold its mutex, and pop waits on its
//     condition only while the queue is empty, so every push reaches a
//     worker.
//   - The Source's own wake-ups need the Stream: one that finds the Stream
//     only through what Add returns must Wake after storing it (see Add).
const (
	stateIdle    = iota // waiting for Wake
	stateQueued         // in the run queue
	stateRunning        // a worker serves it
	stateDirty          // Wake came while running: serve again
	stateDone           // ended
)

const (
	// writeChunk is about how many bytes one write carries.
	writeChunk = 64 << 10
	// turnBytes is how much a worker writes to one stream before it serves
	// the others, so a replaying client cannot starve live ones.
	turnBytes = 4 * writeChunk
	// headRoom is kept in front of a buffer for the chunk-size line.
	headRoom = 18
	// maxPooled is the largest buffer returned to the pool.
	maxPooled = 4 * writeChunk
	// yieldEvery is how many streams a worker serves between yields.
	yieldEvery = 8
	// smallPending is the most pending bytes copied out of their pooled
	// buffer, so that a stalled client holds them and not the whole buffer.
	smallPending = 4 << 10
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk+4096); return &b }}

// putBuf gives buf, taken from the pool as bp, back unless it grew too big.
func putBuf(bp *[]byte, buf []byte) {
	if cap(buf) <= maxPooled {
		*bp = buf[:0]
		bufPool.Put(bp)
	}
}

var lastChunk = []byte("0\r\n\r\n")

// Stream is one stream a Pump writes.
type Stream struct {
	p       *Pump
	conn    net.Conn
	nc      *netpoll.Conn
	watch   *netpoll.Watch
	src     Source
	cfg     *Config
	onClose func(error)
	idx     int       // in p.streams, under p.mu
	tls     *tlsLayer // encrypts a TLS stream's bytes; nil for cleartext

	state        atomic.Uint32
	closing      atomic.Bool  // Close was called: end after the tail
	abort        atomic.Bool  // end now, writing nothing more (set before closing)
	armed        atomic.Bool  // a write is under way or bytes are pending: Writable wakes the stream
	hbDue        atomic.Bool  // a heartbeat is due
	lastWrite    atomic.Int64 // unix ns
	pendingSince atomic.Int64 // unix ns of the last progress; 0 when nothing is pending

	mu    sync.Mutex // guards cause and final
	cause error
	final []byte

	// The serving worker's only.
	pending []byte  // bytes the socket did not take yet
	pendBP  *[]byte // the pool's entry for the buffer pending is in, if any
	pendBuf []byte  // that buffer, to give back once pending is written
	ending  bool    // the tail (final bytes, last chunk) is in pending
}

// Wake tells the pump that the stream's Source may have bytes. It never
// blocks and may be called from any goroutine, any number of times.
func (s *Stream) Wake() {
	for {
		switch st := s.state.Load(); st {
		case stateIdle:
			if s.state.CompareAndSwap(stateIdle, stateQueued) {
				s.p.q.push(s)
				return
			}
		case stateRunning:
			if s.state.CompareAndSwap(stateRunning, stateDirty) {
				return
			}
		default:
			return
		}
	}
}

// Close ends the stream: final (if any) is written after the bytes already
// taken from the Source, then the last chunk, and the connection is
// closed. These wait for the client like any bytes, up to
// Options.WriteTimeout; when the pump shuts down they get one try. What
// the Source still holds is not sent (a write under way finishes). cause
// is passed to onClose. The first Close wins; it may be called from any
// goroutine.
func (s *Stream) Close(cause error, final []byte) {
	s.mu.Lock()
	if s.cause == nil {
		s.cause, s.final = cause, final
	}
	s.mu.Unlock()
	s.closing.Store(true)
	s.Wake()
}

// abortWith ends the stream at once, writing nothing more.
func (s *Stream) abortWith(cause error) {
	s.abort.Store(true)
	s.Close(cause, nil)
}

// polled is the poller's callback.
func (s *Stream) polled(ev netpoll.Event) {
	switch {
	case ev&netpoll.Closed != 0:
		s.abortWith(ErrClientGone)
	case ev&netpoll.Writable != 0 && s.armed.Load():
		s.Wake()
	}
}

// check is the ticker's look at s, with p.mu held.
func (s *Stream) check(now int64) {
	if since := s.pendingSince.Load(); since != 0 {
		if time.Duration(now-since) >= s.p.opts.WriteTimeout {
			s.abortWith(ErrWriteTimeout)
		}
		return
	}
	if hb := s.cfg.Heartbeat; hb > 0 && time.Duration(now-s.lastWrite.Load()) >= hb && !s.hbDue.Load() {
		s.hbDue.Store(true)
		s.Wake()
	}
}

// work serves streams from the run queue until it is closed.
func (p *Pump) work() {
	defer p.wg.Done()
	served := 0
	for {
		s := p.q.pop()
		if s == nil {
			return
		}
		if served++; served%yieldEvery == 0 {
			// A busy worker never blocks (its writes don't): let the
			// goroutines that publish have the processor now and then.
			runtime.Gosched()
		}
		s.state.Store(stateRunning)
		more := s.serve()
		if s.state.Load() == stateDone {
			continue
		}
		if !more && s.state.CompareAndSwap(stateRunning, stateIdle) {
			continue
		}
		// Woken while running, or its turn is used up: back in line.
		s.state.Store(stateQueued)
		p.q.push(s)
	}
}

// serve writes what s has, up to a turn's worth. It reports whether s
// still has bytes ready.
func (s *Stream) serve() (more bool) {
	if s.abort.Load() {
		s.finish()
		return false
	}
	if s.ending || s.closing.Load() {
		s.end()
		return false
	}
	if len(s.pending) > 0 {
		if !s.flush() {
			s.finish()
			return false
		}
		if len(s.pending) > 0 {
			return false // wait for the socket to drain
		}
	}
	wrote := 0
	for wrote < turnBytes {
		if wrote > 0 && s.closing.Load() {
			s.end() // a revoked or shut down stream stops mid-turn
			return false
		}
		bp := bufPool.Get().(*[]byte)
		buf, err := s.src.Next((*bp)[:headRoom], writeChunk)
		n := len(buf) - headRoom
		if n > 0 {
			wrote += n
			if !s.write(s.frame(buf), bp, buf) {
				s.finish()
				return false
			}
		} else {
			putBuf(bp, buf)
		}
		if err != nil {
			s.Close(err, nil)
			s.end()
			return false
		}
		if len(s.pending) > 0 {
			return false // wait for the socket to drain
		}
		if n == 0 {
			break
		}
	}
	if wrote == 0 && s.hbDue.Swap(false) && len(s.cfg.Ping) > 0 {
		if !s.writePing() {
			s.finish()
		}
		return false
	}
	s.hbDue.Store(false)
	return wrote >= turnBytes
}

// frame turns buf, whose data starts at headRoom, into one HTTP/1.1 chunk
// (when the stream is chunked) and returns the bytes to write.
func (s *Stream) frame(buf []byte) []byte {
	if !s.cfg.Chunked {
		return buf[headRoom:]
	}
	var size [16]byte
	hex := strconv.AppendUint(size[:0], uint64(len(buf)-headRoom), 16)
	start := headRoom - len(hex) - 2
	copy(buf[start:], hex)
	buf[headRoom-2], buf[headRoom-1] = '\r', '\n'
	return append(buf[start:], '\r', '\n')
}

// appendFramed appends b to dst as one chunk (when the stream is chunked).
func (s *Stream) appendFramed(dst, b []byte) []byte {
	if !s.cfg.Chunked {
		return append(dst, b...)
	}
	dst = strconv.AppendUint(dst, uint64(len(b)), 16)
	dst = append(dst, '\r', '\n')
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// writePing writes the heartbeat as one chunk from a pooled buffer, so it
// allocates nothing; an EncodedSource encodes it first.
func (s *Stream) writePing() bool {
	bp := bufPool.Get().(*[]byte)
	var buf []byte
	if es, ok := s.src.(EncodedSource); ok {
		buf = es.AppendPing((*bp)[:headRoom], s.cfg.Ping)
	} else {
		buf = append((*bp)[:headRoom], s.cfg.Ping...)
	}
	return s.write(s.frame(buf), bp, buf)
}

// write writes b, which lies in buf, a buffer the pool gave as bp, without
// blocking. What the socket does not take stays pending in buf, which goes
// back to the pool once it is written. It reports false when the
// connection failed.
func (s *Stream) write(b []byte, bp *[]byte, buf []byte) bool {
	if s.tls != nil {
		var err error
		if b, bp, buf, err = s.tls.sealPooled(b, bp, buf); err != nil {
			putBuf(bp, buf)
			s.abortWith(ErrClientGone)
			return false
		}
	}
	s.pending, s.pendBP, s.pendBuf = b, bp, buf
	return s.flush()
}

// tryWrite writes b without blocking, and counts the write.
func (s *Stream) tryWrite(b []byte) (int, error) {
	// Armed before the system call: the Writable that a short write leads
	// to must find it set, however soon it comes.
	if !s.armed.Load() {
		s.armed.Store(true)
	}
	n, err := s.nc.TryWrite(b)
	c := s.p.opts.Counters
	c.Writes.Add(1)
	c.Bytes.Add(uint64(n))
	return n, err
}

// flush writes pending bytes without blocking. It reports false when the
// connection failed; the stream is then aborted.
func (s *Stream) flush() bool {
	n, err := s.tryWrite(s.pending)
	if err != nil {
		s.abortWith(ErrClientGone)
		return false
	}
	now := time.Now().UnixNano()
	if n > 0 {
		s.lastWrite.Store(now)
	}
	s.pending = s.pending[n:]
	if len(s.pending) == 0 {
		s.release()
		s.pendingSince.Store(0)
		s.armed.Store(false) // nothing pending: no Writable is needed
		return true
	}
	if n > 0 || s.pendingSince.Load() == 0 {
		s.pendingSince.Store(now) // progress: the timeout starts again
	}
	if s.pendBP != nil && len(s.pending) <= smallPending {
		rest := append([]byte(nil), s.pending...)
		s.release()
		s.pending = rest
	}
	return true
}

// release drops the pending bytes and gives their buffer back.
func (s *Stream) release() {
	if s.pendBP != nil {
		putBuf(s.pendBP, s.pendBuf)
	}
	s.pending, s.pendBP, s.pendBuf = nil, nil, nil
}

// end writes the tail of a closing stream: the bytes pending, the final
// bytes and the last chunk. s ends once they are written, or at once when
// it is aborted, or after one try when the pump shuts down.
func (s *Stream) end() {
	if s.abort.Load() {
		s.finish()
		return
	}
	if !s.ending {
		s.ending = true
		s.mu.Lock()
		final := s.final
		s.mu.Unlock()
		if es, ok := s.src.(EncodedSource); ok {
			final = es.AppendEnd(nil, final)
		}
		if len(final) > 0 {
			s.pending = s.appendWire(s.pending, s.appendFramed(nil, final))
		}
		if s.cfg.Chunked {
			s.pending = s.appendWire(s.pending, lastChunk)
		}
	}
	if len(s.pending) > 0 && !s.flush() {
		s.finish()
		return
	}
	if len(s.pending) == 0 || s.p.stopping.Load() {
		s.finish()
	}
}

// finish ends s: the connection is closed, the poller forgets it, and
// onClose runs. It writes nothing.
func (s *Stream) finish() {
	s.state.Store(stateDone)
	s.mu.Lock()
	cause := s.cause
	s.mu.Unlock()
	s.closeTLS()
	s.release()
	s.watch.Stop()
	_ = s.conn.Close()
	s.p.remove(s)
	s.onClose(cause)
}
