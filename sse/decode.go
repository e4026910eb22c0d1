package sse

import (
	"errors"
	"io"
	"time"
)

// DefaultMaxEventSize is the decoder's default bound on the bytes buffered
// for one event (data plus type plus id).
const DefaultMaxEventSize = 16 << 20

// ErrEventTooLarge is returned by Decoder.Next when one event grows past the
// decoder's MaxEventSize.
var ErrEventTooLarge = errors.New("sse: event exceeds maximum size")

// Decoder reads events from a text/event-stream. TODO(sse helper): implement.
type Decoder struct {
	// MaxEventSize bounds the memory one event may use; 0 means DefaultMaxEventSize.
	MaxEventSize int
	r            io.Reader
}

// NewDecoder returns a decoder that reads from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: r} }

// Next returns the next dispatched event, or io.EOF at the end of the stream.
func (d *Decoder) Next() (Event, error) { panic("TODO") }

// LastEventID returns the stream's last event ID string as of the last blank line.
func (d *Decoder) LastEventID() string { panic("TODO") }

// Retry returns the last valid reconnection time the stream set, and whether it set one.
func (d *Decoder) Retry() (time.Duration, bool) { panic("TODO") }
