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

// The states of a stream's scheduling. A stream is in the run queue at
// most once and served by at most one worker at a time.
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
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk+4096); return &b }}

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
	idx     int // in p.streams, under p.mu

	state        atomic.Uint32
	closing      atomic.Bool
	hbDue        atomic.Bool
	armed        atomic.Bool // a write is under way or bytes are pending: Writable wakes the stream
	lastWrite    atomic.Int64 // unix ns
	pendingSince atomic.Int64 // unix ns; 0 when nothing is pending

	mu    sync.Mutex // guards cause and final
	cause error
	final []byte

	pending []byte // bytes the socket did not take yet; worker only
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
// written, best effort, then the last chunk, and the connection is closed.
// What the Source still holds is not sent (a write under way finishes). cause is
// passed to onClose. The first Close wins; it may be called from any
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

// polled is the poller's callback.
func (s *Stream) polled(ev netpoll.Event) {
	switch {
	case ev&netpoll.Closed != 0:
		s.Close(ErrClientGone, nil)
	case ev&netpoll.Writable != 0 && s.armed.Load():
		s.Wake()
	}
}

// check is the ticker's look at s, with p.mu held.
func (s *Stream) check(now int64) {
	if since := s.pendingSince.Load(); since != 0 {
		if time.Duration(now-since) >= s.p.opts.WriteTimeout {
			s.Close(ErrWriteTimeout, nil)
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
	if s.closing.Load() {
		s.finish()
		return false
	}
	if len(s.pending) > 0 {
		if done, failed := s.flushPending(); failed {
			s.finish()
			return false
		} else if !done {
			return false
		}
	}
	wrote := 0
	for wrote < turnBytes {
		if wrote > 0 && s.closing.Load() {
			s.finish() // a revoked or shut down stream stops mid-turn
			return false
		}
		bp := bufPool.Get().(*[]byte)
		buf, err := s.src.Next((*bp)[:headRoom], writeChunk)
		n := len(buf) - headRoom
		ok := true
		if n > 0 {
			ok = s.write(s.frame(buf))
			wrote += n
		}
		if cap(buf) <= maxPooled {
			*bp = buf[:0]
			bufPool.Put(bp)
		}
		if err != nil {
			s.Close(err, nil)
		}
		if !ok || err != nil {
			s.finish()
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
		if !s.writeFramed(s.cfg.Ping) {
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

// writeFramed writes b as one chunk from a pooled buffer (write keeps
// what the socket does not take), so a heartbeat allocates nothing.
func (s *Stream) writeFramed(b []byte) bool {
	bp := bufPool.Get().(*[]byte)
	buf := append((*bp)[:headRoom], b...)
	ok := s.write(s.frame(buf))
	if cap(buf) <= maxPooled {
		*bp = buf[:0]
		bufPool.Put(bp)
	}
	return ok
}

// frameCopy frames b into a new buffer.
func (s *Stream) frameCopy(b []byte) []byte {
	buf := make([]byte, headRoom, headRoom+len(b)+2)
	return s.frame(append(buf, b...))
}

// write writes b without blocking; what the socket does not take is kept
// pending. It reports false when the connection failed.
func (s *Stream) write(b []byte) bool {
	n, err := s.tryWrite(b)
	if err != nil {
		s.Close(ErrClientGone, nil)
		return false
	}
	now := time.Now().UnixNano()
	if n > 0 {
		s.lastWrite.Store(now)
	}
	if n < len(b) {
		s.pending = append(s.pending[:0], b[n:]...)
		if s.pendingSince.Load() == 0 || n > 0 {
			s.pendingSince.Store(now)
		}
	} else {
		s.armed.Store(false) // nothing pending: no Writable is needed
	}
	return true
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

// flushPending writes pending bytes. It reports done once none are left,
// and failed when the connection failed.
func (s *Stream) flushPending() (done, failed bool) {
	n, err := s.tryWrite(s.pending)
	if err != nil {
		s.Close(ErrClientGone, nil)
		return false, true
	}
	if n == 0 {
		return false, false
	}
	now := time.Now().UnixNano()
	s.lastWrite.Store(now)
	if n < len(s.pending) {
		s.pending = s.pending[:copy(s.pending, s.pending[n:])]
		s.pendingSince.Store(now) // progress: the timeout starts again
		return false, false
	}
	s.pending = nil
	s.pendingSince.Store(0)
	s.armed.Store(false)
	return true, false
}

// finish ends s: the final bytes and the last chunk if the client is still
// there and nothing is stuck, then the connection is closed and onClose runs.
func (s *Stream) finish() {
	s.state.Store(stateDone)
	s.mu.Lock()
	cause, final := s.cause, s.final
	s.mu.Unlock()
	drained := len(s.pending) == 0
	if !drained && cause != ErrClientGone {
		drained, _ = s.flushPending()
	}
	if drained && cause != ErrClientGone && cause != ErrWriteTimeout {
		var out []byte
		if len(final) > 0 {
			out = s.frameCopy(final)
		}
		if s.cfg.Chunked {
			out = append(out, lastChunk...)
		}
		_, _ = s.tryWrite(out)
	}
	s.pending = nil
	s.watch.Stop()
	_ = s.conn.Close()
	s.p.remove(s)
	s.onClose(cause)
}
