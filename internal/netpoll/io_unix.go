//go:build unix

package netpoll

import (
	"errors"
	"fmt"
	"io"
	"syscall"
)

// TryWrite writes as much of b to rc as the socket accepts now, without
// blocking, and returns how many bytes it wrote. n < len(b) with a nil
// error means the send buffer is full: wait for Writable and write the rest.
func TryWrite(rc syscall.RawConn, b []byte) (n int, err error) {
	var werr error
	cerr := rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, e := syscall.Write(int(fd), b[n:])
			if m > 0 {
				n += m
			}
			if errors.Is(e, syscall.EINTR) {
				continue
			}
			if e != nil && !errors.Is(e, syscall.EAGAIN) {
				werr = e
			}
			if e != nil || m <= 0 {
				break
			}
		}
		return true // never wait in the runtime's poller
	})
	if cerr != nil {
		return n, fmt.Errorf("netpoll: write: %w", cerr)
	}
	if werr != nil {
		return n, fmt.Errorf("netpoll: write: %w", werr)
	}
	return n, nil
}

// TryRead reads what rc has now into b without blocking. It returns 0 and
// a nil error when nothing is there yet, and io.EOF at the end of stream.
func TryRead(rc syscall.RawConn, b []byte) (n int, err error) {
	var rerr error
	cerr := rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), b)
			if !errors.Is(rerr, syscall.EINTR) {
				return true // never wait in the runtime's poller
			}
		}
	})
	switch {
	case cerr != nil:
		return 0, fmt.Errorf("netpoll: read: %w", cerr)
	case errors.Is(rerr, syscall.EAGAIN):
		return 0, nil
	case rerr != nil:
		return 0, fmt.Errorf("netpoll: read: %w", rerr)
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}
