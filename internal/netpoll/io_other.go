//go:build !unix

package netpoll

import (
	"errors"
	"fmt"
	"syscall"
)

// TryWrite is not supported here; it returns an error that wraps
// errors.ErrUnsupported.
func TryWrite(rc syscall.RawConn, b []byte) (n int, err error) {
	return 0, fmt.Errorf("netpoll: %w", errors.ErrUnsupported)
}

// TryRead is not supported here; it returns an error that wraps
// errors.ErrUnsupported.
func TryRead(rc syscall.RawConn, b []byte) (n int, err error) {
	return 0, fmt.Errorf("netpoll: %w", errors.ErrUnsupported)
}
