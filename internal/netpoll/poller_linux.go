//go:build linux

package netpoll

import (
	"errors"
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Poller watches connections with one epoll instance and one goroutine.
type Poller struct {
	epfd       int
	wakefd     int // an eventfd that ends the loop
	maxDiscard int

	mu      sync.Mutex
	watches map[uint64]*Watch
	nextID  uint64
	closed  bool
	done    chan struct{}
}

// Watch is one watched connection.
type Watch struct {
	p         *Poller
	id        uint64
	rc        syscall.RawConn
	fn        func(Event)
	read      bool // report Readable instead of draining
	discarded int  // bytes read and dropped; poller goroutine only
	closed    bool // Closed was reported; poller goroutine only
}

// New starts a poller with the default options and its goroutine. Close
// stops it.
func New() (*Poller, error) { return NewWithOptions(Options{}) }

// NewWithOptions starts a poller tuned by opts, and its goroutine. Close
// stops it.
func NewWithOptions(opts Options) (*Poller, error) {
	if opts.MaxDiscard <= 0 {
		opts.MaxDiscard = MaxDiscard
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN} // id 0 is the wake fd
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: epoll_ctl: %w", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, maxDiscard: opts.MaxDiscard, watches: map[uint64]*Watch{}, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// Watch registers c. fn is called from the poller's goroutine, never
// concurrently with itself, whenever c may be writable again and once when
// c is closed; it must not block. Call Stop before closing c.
func (p *Poller) Watch(c syscall.Conn, fn func(Event)) (*Watch, error) {
	return p.watch(c, fn, false)
}

// WatchRead registers c for reading: fn gets Readable whenever c may have
// bytes or its end to read (edge-triggered: read until Conn.TryRead would
// block), from the poller's goroutine. Call Stop before closing c.
func (p *Poller) WatchRead(c syscall.Conn, fn func(Event)) (*Watch, error) {
	return p.watch(c, fn, true)
}

func (p *Poller) watch(c syscall.Conn, fn func(Event), read bool) (*Watch, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netpoll: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	p.nextID++
	w := &Watch{p: p, id: p.nextID, rc: rc, fn: fn, read: read}
	// The event carries the watch's id, not the fd: a stale event for a
	// closed fd whose number was reused cannot reach the new connection.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET}
	ev.Fd, ev.Pad = int32(uint32(w.id)), int32(uint32(w.id>>32))
	var ctlErr error
	if err := rc.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}); err != nil {
		return nil, fmt.Errorf("netpoll: %w", err)
	}
	if ctlErr != nil {
		return nil, fmt.Errorf("netpoll: epoll_ctl add: %w", ctlErr)
	}
	p.watches[w.id] = w
	return w, nil
}

// Stop ends the watch; fn is not called after Stop returns unless a call
// was already under way. It is safe to call more than once.
func (w *Watch) Stop() {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.watches[w.id]; !ok {
		return
	}
	delete(p.watches, w.id)
	// With p.mu held, as Watch adds it: Close cannot have closed epfd
	// (its number may be another file's by then). If the conn is already
	// closed its fd left the epoll set by itself.
	_ = w.rc.Control(func(fd uintptr) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
}

// Len returns how many connections are watched.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.watches)
}

// Close stops the poller's goroutine and waits for it. Watches end without
// a Closed event; their connections stay open.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	p.watches = map[uint64]*Watch{}
	p.mu.Unlock()
	var one = [8]byte{1}
	if _, err := unix.Write(p.wakefd, one[:]); err != nil {
		return fmt.Errorf("netpoll: wake: %w", err)
	}
	<-p.done
	unix.Close(p.wakefd)
	unix.Close(p.epfd)
	return nil
}

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	var discard [4096]byte
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return // the epoll fd is unusable; nothing more can be watched
		}
		for i := range events[:n] {
			ev := &events[i]
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				return
			}
			p.mu.Lock()
			w := p.watches[id]
			p.mu.Unlock()
			if w == nil || w.closed {
				continue
			}
			if w.read {
				if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
					w.fn(Readable)
				}
				continue
			}
			closed := ev.Events&(unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0
			if !closed && ev.Events&unix.EPOLLIN != 0 {
				closed = w.drain(discard[:])
			}
			if closed {
				w.closed = true
				w.fn(Closed)
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				w.fn(Writable)
			}
		}
	}
}

// drain reads and drops what the peer sent, until the socket is empty. It
// reports true at end of stream, on an error, or past the poller's
// MaxDiscard bytes.
func (w *Watch) drain(buf []byte) bool {
	for {
		var n int
		var rerr error
		if err := w.rc.Read(func(fd uintptr) bool {
			n, rerr = unix.Read(int(fd), buf)
			return true
		}); err != nil {
			return true
		}
		switch {
		case errors.Is(rerr, unix.EAGAIN):
			return false
		case errors.Is(rerr, unix.EINTR):
			continue
		case rerr != nil, n == 0:
			return true
		}
		if w.discarded += n; w.discarded > w.p.maxDiscard {
			return true
		}
	}
}
