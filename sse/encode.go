package sse

import "errors"

// Errors returned by the encoder for fields that cannot be represented.
var (
	// ErrInvalidID is returned for an id containing CR, LF or NUL.
	ErrInvalidID = errors.New("sse: id must not contain CR, LF or NUL")
	// ErrInvalidType is returned for an event type containing CR or LF.
	ErrInvalidType = errors.New("sse: event type must not contain CR or LF")
)

// AppendEvent appends the wire form of ev to dst and returns the extended
// buffer. TODO(sse helper): implement.
func AppendEvent(dst []byte, ev *Event) ([]byte, error) {
	panic("TODO")
}

// AppendComment appends text as one or more comment lines (": text").
// TODO(sse helper): implement.
func AppendComment(dst []byte, text string) []byte {
	panic("TODO")
}
