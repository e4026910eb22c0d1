//go:build unix

package netpoll

import (
	"errors"
	"fmt"
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
