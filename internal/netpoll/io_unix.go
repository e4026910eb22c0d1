//go:build unix

package netpoll

import (
	"errors"
	"fmt"
	"io"
	"syscall"
)

// Conn does non-blocking reads and writes on one connection, with no
// allocation per call. It is not safe for concurrent use.
type Conn struct {
	rc    syscall.RawConn
	b     []byte
	n     int
	err   error
	write func(fd uintptr) bool
	read  func(fd uintptr) bool
}

// NewConn returns a Conn for rc.
func NewConn(rc syscall.RawConn) *Conn {
	c := &Conn{rc: rc}
	c.write = c.doWrite
	c.read = c.doRead
	return c
}

// TryWrite writes as much of b as the socket accepts now, without
// blocking, and returns how many bytes it wrote. n < len(b) with a nil
// error means the send buffer is full: wait for Writable and write the rest.
func (c *Conn) TryWrite(b []byte) (n int, err error) {
	c.b, c.n, c.err = b, 0, nil
	cerr := c.rc.Write(c.write)
	n, err = c.n, c.err
	c.b, c.err = nil, nil
	if cerr != nil {
		return n, fmt.Errorf("netpoll: write: %w", cerr)
	}
	if err != nil {
		return n, fmt.Errorf("netpoll: write: %w", err)
	}
	return n, nil
}

func (c *Conn) doWrite(fd uintptr) bool {
	for c.n < len(c.b) {
		m, e := syscall.Write(int(fd), c.b[c.n:])
		if m > 0 {
			c.n += m
		}
		if errors.Is(e, syscall.EINTR) {
			continue
		}
		if e != nil && !errors.Is(e, syscall.EAGAIN) {
			c.err = e
		}
		if e != nil || m <= 0 {
			break
		}
	}
	return true // never wait in the runtime's poller
}

// TryRead reads what the connection has now into b without blocking. It
// returns 0 and a nil error when nothing is there yet, and io.EOF at the
// end of stream.
func (c *Conn) TryRead(b []byte) (n int, err error) {
	c.b, c.n, c.err = b, 0, nil
	cerr := c.rc.Read(c.read)
	n, err = c.n, c.err
	c.b, c.err = nil, nil
	switch {
	case cerr != nil:
		return 0, fmt.Errorf("netpoll: read: %w", cerr)
	case errors.Is(err, syscall.EAGAIN):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("netpoll: read: %w", err)
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) doRead(fd uintptr) bool {
	for {
		n, e := syscall.Read(int(fd), c.b)
		if errors.Is(e, syscall.EINTR) {
			continue
		}
		c.n, c.err = max(n, 0), e
		return true // never wait in the runtime's poller
	}
}
