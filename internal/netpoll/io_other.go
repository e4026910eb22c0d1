//go:build !unix

package netpoll

import (
	"errors"
	"fmt"
	"syscall"
)

// Conn does non-blocking reads and writes; not supported on this system.
type Conn struct{}

// NewConn returns a Conn whose methods fail.
func NewConn(rc syscall.RawConn) *Conn { return &Conn{} }

// TryWrite returns an error that wraps errors.ErrUnsupported.
func (c *Conn) TryWrite(b []byte) (n int, err error) {
	return 0, fmt.Errorf("netpoll: %w", errors.ErrUnsupported)
}

// TryRead returns an error that wraps errors.ErrUnsupported.
func (c *Conn) TryRead(b []byte) (n int, err error) {
	return 0, fmt.Errorf("netpoll: %w", errors.ErrUnsupported)
}
