package pump

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/internal/netpoll"
)

// Reasons a stream ends, passed to its onClose function.
var (
	// ErrClientGone: the client closed the connection or a write failed.
	ErrClientGone = errors.New("pump: client went away")
	// ErrWriteTimeout: the client accepted nothing for Options.WriteTimeout.
	ErrWriteTimeout = errors.New("pump: write timed out")
	// ErrShutdown: the pump was closed.
	ErrShutdown = errors.New("pump: shut down")
)

// Source produces a stream's bytes. Next is called by one worker at a time.
type Source interface {
	// Next appends the bytes ready to send, about max at most (it may
	// overshoot by one event), to dst and returns it; it returns dst
	// unchanged when nothing is ready, and calls Wake when something is.
	// An error ends the stream after the bytes returned with it.
	Next(dst []byte, max int) ([]byte, error)
}

// An EncodedSource is a Source whose bytes carry a content encoding of
// their own (compression, stateful per stream): the heartbeat and the
// final bytes must be encoded by it too, after what Next returned. The
// pump calls these, like Next, from one worker at a time.
type EncodedSource interface {
	Source
	// AppendPing appends ping, encoded, to dst.
	AppendPing(dst, ping []byte) []byte
	// AppendEnd appends final (possibly empty), encoded, and whatever
	// ends the encoding, to dst. It is called once, as the stream ends
	// normally; an aborted stream writes nothing more.
	AppendEnd(dst, final []byte) []byte
}

// Config describes a kind of stream; many streams may share one. It must
// not change once used.
type Config struct {
	// Heartbeat is the idle time after which Ping is written; 0 = never.
	Heartbeat time.Duration
	// Ping is the heartbeat's bytes.
	Ping []byte
	// Chunked frames writes as HTTP/1.1 chunks and ends the stream with
	// the last chunk: the response's headers said Transfer-Encoding: chunked.
	Chunked bool
}

// Options tune a Pump. Zero values take the defaults.
type Options struct {
	// Workers write the streams; default GOMAXPROCS, at least 2.
	Workers int
	// WriteTimeout closes a stream whose client accepted none of its
	// pending bytes for this long. Default 60 s.
	WriteTimeout time.Duration
	// MaxClientBytes is how many bytes a client may send on a stream
	// once the pump has it (they are read and dropped: an SSE client
	// sends nothing after its request) before the stream ends with
	// ErrClientGone. Default netpoll.MaxDiscard, 64 KiB.
	MaxClientBytes int
	// Counters, when set, receive the pump's counts; they may outlive it.
	Counters *Counters
}

// Counters count a pump's work, read with atomic loads.
type Counters struct {
	Writes atomic.Uint64 // write system calls
	Bytes  atomic.Uint64 // bytes written

	TLSOwnRecords atomic.Uint64 // TLS streams whose records the pump seals itself (tls_handoff.go)
	TLSCryptoTLS  atomic.Uint64 // TLS streams whose records crypto/tls seals
}

// Pump writes streams taken over from net/http.
type Pump struct {
	opts   Options
	poller *netpoll.Poller
	// strict watches the streams whose TLS records the pump seals itself:
	// any bytes from their clients end them (tls_handoff.go). Made with
	// the first one, under mu.
	strict *netpoll.Poller
	q      runq
	wg     sync.WaitGroup // workers and ticker

	// stopping is set when Close begins: a closing stream then gets one
	// try at its last bytes instead of waiting for its client.
	stopping atomic.Bool

	mu      sync.Mutex
	streams []*Stream // index is Stream.idx
	closed  bool
	drained sync.Cond // signalled as streams finish, for Close
	tick    time.Duration
	retick  chan struct{} // the tick got shorter
	stop    chan struct{}
}

// New starts a pump: its poller, workers and ticker. It fails where
// [netpoll.New] does (outside Linux).
func New(opts Options) (*Pump, error) {
	if opts.Workers <= 0 {
		opts.Workers = max(2, runtime.GOMAXPROCS(0))
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 60 * time.Second
	}
	if opts.Counters == nil {
		opts.Counters = new(Counters)
	}
	if opts.MaxClientBytes <= 0 {
		opts.MaxClientBytes = netpoll.MaxDiscard
	}
	poller, err := netpoll.NewWithOptions(netpoll.Options{MaxDiscard: opts.MaxClientBytes})
	if err != nil {
		return nil, fmt.Errorf("pump: %w", err)
	}
	p := &Pump{opts: opts, poller: poller, stop: make(chan struct{}), retick: make(chan struct{}, 1)}
	p.q.cond.L = &p.q.mu
	p.drained.L = &p.mu
	p.tick = tickFor(opts.WriteTimeout)
	p.wg.Add(opts.Workers + 1)
	for range opts.Workers {
		go p.work()
	}
	go p.ticker(p.tick)
	return p, nil
}

// tickFor is how often the ticker must look to be on time for d: a
// quarter of d, between 5 ms and 1 s.
func tickFor(d time.Duration) time.Duration {
	return min(time.Second, max(5*time.Millisecond, d/4))
}

// Add takes conn over and starts writing src to it; conn's response
// headers must already be written. onClose is called once, from a worker,
// after the stream ended and conn was closed, with the reason: one of this
// package's errors, the error from Source.Next, or the cause given to
// Close. Add fails, leaving conn open, when conn cannot be polled (it must
// be a syscall.Conn, or a *tls.Conn from a [TLSListener] whose handshake
// is done) or the pump is closed.
//
// Add wakes the stream once, for what src had before. A Source that
// reaches the Stream only through what Add returns cannot wake it until
// it has stored it: it must call Wake again after storing it, or bytes
// that came meanwhile wait for the next wake-up.
func (p *Pump) Add(conn net.Conn, src Source, cfg *Config, onClose func(error)) (*Stream, error) {
	sc, tl, err := pollable(conn)
	if err != nil {
		return nil, err
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("pump: %w", err)
	}
	s := &Stream{p: p, conn: conn, nc: netpoll.NewConn(rc), src: src, cfg: cfg, onClose: onClose, tls: tl}
	s.lastWrite.Store(time.Now().UnixNano())
	// Running until set up: a Wake or Close meanwhile is only noted.
	s.state.Store(stateRunning)

	poller, err := p.pollerFor(tl)
	if err != nil {
		return nil, fmt.Errorf("pump: %w", err)
	}
	if s.watch, err = poller.Watch(sc, s.polled); err != nil {
		if errors.Is(err, netpoll.ErrClosed) {
			err = ErrShutdown
		}
		return nil, fmt.Errorf("pump: %w", err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		s.watch.Stop()
		return nil, fmt.Errorf("pump: %w", ErrShutdown)
	}
	s.idx = len(p.streams)
	p.streams = append(p.streams, s)
	if cfg.Heartbeat > 0 && tickFor(cfg.Heartbeat) < p.tick {
		p.tick = tickFor(cfg.Heartbeat)
		select {
		case p.retick <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
	if tl != nil {
		tl.start(s) // from now on the tls.Conn only encrypts, or is dropped
	}
	s.state.Store(stateIdle)
	s.Wake() // a resuming Source has bytes before it ever calls Wake
	return s, nil
}

// Len returns how many streams the pump writes.
func (p *Pump) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.streams)
}

// Close ends every stream with ErrShutdown (their clients get the last
// chunk, so they reconnect, where their sockets take it at once: Close
// does not wait for slow clients), waits until each onClose has run, and
// stops the pump's goroutines. It is idempotent.
func (p *Pump) Close() error {
	p.stopping.Store(true)
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stop)
	}
	for _, s := range p.streams {
		s.Close(ErrShutdown, nil)
	}
	for len(p.streams) > 0 {
		p.drained.Wait()
	}
	p.mu.Unlock()
	p.q.close()
	p.wg.Wait()
	p.mu.Lock()
	strict := p.strict
	p.mu.Unlock()
	if strict != nil {
		_ = strict.Close()
	}
	return p.poller.Close()
}

// remove forgets s, which has ended.
func (p *Pump) remove(s *Stream) {
	p.mu.Lock()
	last := len(p.streams) - 1
	p.streams[s.idx] = p.streams[last]
	p.streams[s.idx].idx = s.idx
	p.streams[last] = nil
	p.streams = p.streams[:last]
	if last == 0 {
		p.streams = nil // let a burst's slice go
	}
	p.drained.Broadcast()
	p.mu.Unlock()
}

// ticker sends heartbeats to idle streams and times out stuck writes.
func (p *Pump) ticker(tick time.Duration) {
	defer p.wg.Done()
	t := time.NewTimer(tick)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.retick:
			t.Stop()
		case <-t.C:
		}
		now := time.Now().UnixNano()
		p.mu.Lock()
		for _, s := range p.streams {
			s.check(now)
		}
		next := p.tick
		p.mu.Unlock()
		t.Reset(next)
	}
}

// runq is the queue of streams with work, each at most once.
type runq struct {
	mu      sync.Mutex
	cond    sync.Cond
	items   []*Stream
	head    int
	waiting int
	closed  bool
}

func (q *runq) push(s *Stream) {
	q.mu.Lock()
	q.items = append(q.items, s)
	if q.waiting > 0 {
		q.cond.Signal()
	}
	q.mu.Unlock()
}

// pop returns the next stream, or nil once the queue is closed.
func (q *runq) pop() *Stream {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == len(q.items) {
		if q.closed {
			return nil
		}
		q.waiting++
		q.cond.Wait()
		q.waiting--
	}
	s := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head > len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return s
}

func (q *runq) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}
