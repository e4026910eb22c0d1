package sse

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors returned by the encoder for fields that cannot be represented.
var (
	// ErrInvalidID is returned for an id containing CR, LF or NUL.
	ErrInvalidID = errors.New("sse: id must not contain CR, LF or NUL")
	// ErrInvalidType is returned for an event type containing CR or LF.
	ErrInvalidType = errors.New("sse: event type must not contain CR or LF")
)

// ValidateID reports whether id can be sent as an id field: it returns
// [ErrInvalidID] if id contains CR, LF or NUL (a client ignores an id with
// NUL, and CR or LF would end the field early).
func ValidateID(id string) error {
	if strings.ContainsAny(id, "\r\n\x00") {
		return ErrInvalidID
	}
	return nil
}

// ValidateType reports whether typ can be sent as an event field: it returns
// [ErrInvalidType] if typ contains CR or LF.
func ValidateType(typ string) error {
	if strings.ContainsAny(typ, "\r\n") {
		return ErrInvalidType
	}
	return nil
}

// AppendEvent appends the wire form of ev to dst and returns the extended
// buffer. The fields are written in the order event, id, retry, data (the
// order the seed systems' documentation shows: Inboxclaw, BoilStream and
// Hantera all write "event:" first), and the event ends with a blank line:
//
//	event: <Type>     (only if Type is non-empty)
//	id: <ID>          (only if ID is non-empty)
//	retry: <ms>       (only if Retry is positive; rounded up to whole ms)
//	data: <line>      (one per line of Data; at least one)
//
// Data is split at every CR, LF and CRLF, one data line per line, so a
// client rebuilds Data byte for byte when its line breaks are LF (a client
// turns every CR and CRLF into LF, as the standard requires). An empty Data
// is sent as a single empty data line, so every encoded event is dispatched.
//
// An ID containing CR, LF or NUL yields [ErrInvalidID] and a Type containing
// CR or LF yields [ErrInvalidType]; on error dst is returned unchanged. When
// dst has enough capacity AppendEvent does not allocate, so the natural way
// to send one event to many connections is to encode it once into a reused
// buffer and write those bytes to each.
func AppendEvent(dst []byte, ev *Event) ([]byte, error) {
	if err := ValidateID(ev.ID); err != nil {
		return dst, err
	}
	if err := ValidateType(ev.Type); err != nil {
		return dst, err
	}
	data := ev.Data
	hasCR := bytes.IndexByte(data, '\r') >= 0
	// Exact size when Data has no CR (the common case), an upper bound
	// otherwise: one "data: " + "\n" per line.
	n := 1 + len(data) + 7*(1+bytes.Count(data, nl))
	if ev.ID != "" {
		n += len("id: \n") + len(ev.ID)
	}
	if ev.Type != "" {
		n += len("event: \n") + len(ev.Type)
	}
	if ev.Retry > 0 {
		n += len("retry: \n") + 20
	}
	if hasCR {
		n += 7 * bytes.Count(data, cr)
	}
	dst = slices.Grow(dst, n)

	if ev.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, ev.Type...)
		dst = append(dst, '\n')
	}
	if ev.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, ev.ID...)
		dst = append(dst, '\n')
	}
	if ev.Retry > 0 {
		dst = AppendRetry(dst, ev.Retry)
	}
	dst = appendLines(dst, "data", data, hasCR)
	return append(dst, '\n'), nil
}

var (
	nl = []byte{'\n'}
	cr = []byte{'\r'}
)

// appendLines appends one "<field>: <line>\n" per line of text, splitting at
// CR, LF and CRLF. An empty line is written as "<field>:\n". hasCR tells
// whether text contains a CR (only then is the slower splitter needed).
func appendLines(dst []byte, field string, text []byte, hasCR bool) []byte {
	for {
		var line []byte
		end, next := -1, 0
		if !hasCR {
			if i := bytes.IndexByte(text, '\n'); i >= 0 {
				end, next = i, i+1
			}
		} else if i := bytes.IndexAny(text, "\r\n"); i >= 0 {
			end, next = i, i+1
			if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
				next = i + 2
			}
		}
		if end < 0 {
			line = text
		} else {
			line = text[:end]
		}
		dst = append(dst, field...)
		dst = append(dst, ':')
		if len(line) > 0 {
			// The decoder removes exactly one space after the colon,
			// so a line starting with a space keeps it.
			dst = append(dst, ' ')
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
		if end < 0 {
			return dst
		}
		text = text[next:]
	}
}

// AppendRetry appends a "retry:" field telling clients to wait d before
// reconnecting. The wire value is whole milliseconds, rounded up so that a
// positive d is never sent as 0; a negative d is sent as 0.
func AppendRetry(dst []byte, d time.Duration) []byte {
	var ms int64
	if d > 0 {
		ms = int64(d / time.Millisecond)
		if d%time.Millisecond != 0 {
			ms++
		}
	}
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, '\n')
}

// AppendComment appends text as one or more comment lines (": text"),
// splitting it at CR, LF and CRLF. Clients ignore comments; they are useful
// as keep-alives. An empty text gives a single ":" line.
func AppendComment(dst []byte, text string) []byte {
	b := unsafeBytes(text)
	return appendLines(dst, "", b, bytes.IndexByte(b, '\r') >= 0)
}

// AppendTightComment is AppendComment without the space after the colon:
// ":keepalive", the bytes Hantera sends as its keep-alive. The two are the
// same to every client.
func AppendTightComment(dst []byte, text string) []byte {
	for {
		i := strings.IndexAny(text, "\r\n")
		if i < 0 {
			return append(append(append(dst, ':'), text...), '\n')
		}
		dst = append(append(append(dst, ':'), text[:i]...), '\n')
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
}

// Encoder writes events to an io.Writer, reusing one buffer. It is not safe
// for concurrent use.
type Encoder struct {
	w   io.Writer
	buf []byte
}

// NewEncoder returns an Encoder that writes to w.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

// Encode writes the wire form of ev (see [AppendEvent]) in one Write call.
func (e *Encoder) Encode(ev *Event) error {
	b, err := AppendEvent(e.buf[:0], ev)
	if err != nil {
		return err
	}
	e.buf = b
	_, err = e.w.Write(b)
	return err
}

// Comment writes text as comment lines (see [AppendComment]).
func (e *Encoder) Comment(text string) error {
	e.buf = AppendComment(e.buf[:0], text)
	_, err := e.w.Write(e.buf)
	return err
}
