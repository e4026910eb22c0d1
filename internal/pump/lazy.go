package pump

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Lazy is a feature's pump over its life: started by the first stream
// that is handed over, never when the system cannot run one (then every
// stream keeps its goroutine), and closed once, after the handlers that
// are handing a stream over have finished. The zero value is not usable;
// make one with NewLazy.
type Lazy struct {
	opts   Options
	onFail func(error) // told once why no pump runs

	mu        sync.Mutex
	p         *Pump
	off       bool
	detaching sync.WaitGroup // between Acquire and Release
}

// NewLazy returns a Lazy whose pump, when started, has opts; onFail, if
// set, is told why a pump could not start.
func NewLazy(opts Options, onFail func(error)) *Lazy {
	return &Lazy{opts: opts, onFail: onFail}
}

// Acquire returns the pump, starting it if need be, or nil when streams
// keep their goroutine (it could not start, Disable, Close). A non-nil
// pump must be released with Release once the stream is handed over (or
// was not).
func (l *Lazy) Acquire() *Pump {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p == nil && !l.off {
		p, err := New(l.opts)
		if err != nil {
			l.off = true
			if l.onFail != nil {
				l.onFail(err)
			}
			return nil
		}
		l.p = p
	}
	if l.off {
		return nil // Disable: a started pump keeps its streams, and takes no more
	}
	l.detaching.Add(1)
	return l.p
}

// Release ends what Acquire began.
func (l *Lazy) Release() { l.detaching.Done() }

// Disable keeps every later stream on its goroutine; streams already
// handed over go on.
func (l *Lazy) Disable() {
	l.mu.Lock()
	l.off = true
	l.mu.Unlock()
}

// Close ends every handed-over stream, once the handlers between Acquire
// and Release are done; no stream is handed over afterwards.
func (l *Lazy) Close() {
	l.mu.Lock()
	p := l.p
	l.p, l.off = nil, true
	l.mu.Unlock()
	l.detaching.Wait()
	if p != nil {
		_ = p.Close()
	}
}

// HandOver moves a response whose headers are written onto p (which
// Acquire returned): hijack takes the connection from net/http (an
// http.ResponseController's Hijack), and the stream is added with src,
// cfg and onClose. When either step fails the stream cannot go on: the
// connection, if taken, gets the last chunk and is closed, and, unless the
// pump is shutting down (ErrShutdown), l keeps later streams on their
// goroutines (Disable). The caller ends its side and may log the error.
func (l *Lazy) HandOver(p *Pump, hijack func() (net.Conn, *bufio.ReadWriter, error), src Source, cfg *Config, onClose func(error)) (*Stream, error) {
	conn, _, err := hijack()
	if err != nil {
		l.Disable()
		return nil, fmt.Errorf("hijacking the connection: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	s, err := p.Add(conn, src, cfg, onClose)
	if err != nil {
		if !errors.Is(err, ErrShutdown) {
			l.Disable()
		}
		_, _ = conn.Write([]byte("0\r\n\r\n"))
		_ = conn.Close()
		return nil, err
	}
	return s, nil
}
