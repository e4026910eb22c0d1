// Package netpoll watches many write-only connections with one goroutine.
//
// A server that streams to tens of thousands of mostly idle clients cannot
// afford a goroutine blocked in Read per connection just to learn that the
// client went away: its stack and read buffer cost more than everything
// else the connection needs. A [Poller] instead registers each connection's
// file descriptor with one epoll instance (edge-triggered) and calls back
// when the connection becomes writable again or is closed by the peer.
// Bytes a client sends on such a connection are read and discarded; a
// client that sends more than a small bound is treated as closed.
//
// [Conn.TryWrite] writes without blocking, so a handful of goroutines can serve
// every connection: a write that would block returns what it wrote, and
// the Writable callback says when to try again. A load generator reading
// many streams uses WatchRead and [Conn.TryRead] the same way.
//
// The poller needs Linux; elsewhere [New] returns an error that wraps
// [errors.ErrUnsupported] and callers keep a goroutine per connection.
package netpoll

import "errors"

// Event is what a Poller reports about a connection.
type Event uint8

const (
	// Writable: the connection's send buffer has room again.
	Writable Event = 1 << iota
	// Closed: the peer closed the connection, it failed, or the peer sent
	// more than the poller discards (see [Options.MaxDiscard]).
	Closed
	// Readable: a connection watched with WatchRead has bytes, or its
	// end, to read: read with [Conn.TryRead] until it would block.
	Readable
)

// MaxDiscard is the default of [Options.MaxDiscard]: how many bytes a
// client may send on a watched connection before the poller reports it
// Closed. An SSE client sends nothing after its request.
const MaxDiscard = 64 << 10

// Options tune a Poller. Zero values take the defaults.
type Options struct {
	// MaxDiscard is how many bytes a peer may send on a connection
	// watched with Watch (they are read and dropped) before the poller
	// reports it Closed; zero or less means [MaxDiscard] (64 KiB).
	MaxDiscard int
}

// ErrClosed is returned by Watch after the poller was closed.
var ErrClosed = errors.New("netpoll: poller closed")
