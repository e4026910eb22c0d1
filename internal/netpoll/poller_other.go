//go:build !linux

package netpoll

import (
	"errors"
	"fmt"
	"syscall"
)

// Poller is not available on this system; New returns an error.
type Poller struct{}

// Watch is one watched connection.
type Watch struct{}

// New returns an error that wraps errors.ErrUnsupported.
func New() (*Poller, error) { return NewWithOptions(Options{}) }

// NewWithOptions returns an error that wraps errors.ErrUnsupported.
func NewWithOptions(opts Options) (*Poller, error) {
	return nil, fmt.Errorf("netpoll: %w: needs Linux epoll", errors.ErrUnsupported)
}

// Watch is not supported here.
func (p *Poller) Watch(c syscall.Conn, fn func(Event)) (*Watch, error) { return nil, ErrClosed }

// WatchRead is not supported here.
func (p *Poller) WatchRead(c syscall.Conn, fn func(Event)) (*Watch, error) { return nil, ErrClosed }

// Stop does nothing.
func (w *Watch) Stop() {}

// Len returns 0.
func (p *Poller) Len() int { return 0 }

// Close does nothing.
func (p *Poller) Close() error { return nil }
