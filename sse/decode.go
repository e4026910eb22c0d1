package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"
	"unsafe"
)

// DefaultMaxEventSize is the decoder's default bound on the bytes buffered
// for one event (data plus type plus id).
const DefaultMaxEventSize = 16 << 20

// ErrEventTooLarge is returned by Decoder.Next when one event grows past the
// decoder's MaxEventSize.
var ErrEventTooLarge = errors.New("sse: event exceeds maximum size")

// readSize is the size of the decoder's read buffer.
const readSize = 64 << 10

// maxKeep is the data buffer capacity kept between events; a larger buffer
// (left by one big event) is dropped so an idle stream holds little memory.
const maxKeep = 1 << 20

// field identifies the field of a line whose value is being streamed because
// the line is longer than the read buffer.
type field uint8

const (
	fieldNone   field = iota // at the start of a line
	fieldIgnore              // comment or unknown field: discard
	fieldData
	fieldEvent
	fieldID
	fieldRetry
)

// scan caches the position of the next occurrence of one byte in the read
// buffer, so that a stream using only the other line terminator is not
// rescanned once per line.
type scan struct {
	pos  int // index of the byte, or == upto if none in [.., upto)
	upto int // end of the searched region
}

func (s *scan) find(buf []byte, start, end int, c byte) int {
	from := start
	if s.pos >= start {
		if s.pos < s.upto {
			return s.pos
		}
		from = s.upto
	}
	if i := bytes.IndexByte(buf[from:end], c); i >= 0 {
		s.pos, s.upto = from+i, end
	} else {
		s.pos, s.upto = end, end
	}
	return s.pos
}

// Decoder reads events from a text/event-stream, following the WHATWG HTML
// standard's event stream interpretation (section 9.2.6) exactly:
//
//   - The stream is decoded as UTF-8; invalid bytes become U+FFFD as the
//     WHATWG UTF-8 decoder makes them, also when a character is split
//     between reads. One byte order mark at the very start is skipped.
//   - Lines end with CRLF, LF or CR (a CR at the end of one read and an LF
//     at the start of the next are one line end).
//   - Lines starting with ":" are comments. Otherwise a line is split at its
//     first colon into field name and value, and one space after the colon
//     is removed; a line without colon is a field name with an empty value.
//   - "data" appends the value and an LF to the data buffer; "event" sets
//     the event type; "id" sets the last event ID unless the value contains
//     NUL; "retry" sets the reconnection time if the value is all ASCII
//     digits. Other fields, including other spellings such as "Data", are
//     ignored.
//   - A blank line sets the last event ID, and, if the data buffer is not
//     empty, dispatches an event whose Data is the buffer without its final
//     LF and whose Type is the event type or "message". Data and type are
//     then reset; the last event ID persists.
//   - At the end of the stream an event without its blank line is discarded.
//
// The bytes one event buffers (data, type and id) are bounded by
// MaxEventSize; a comment or unknown field is discarded as it is read, so
// it uses no memory however long it is.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	// MaxEventSize bounds the memory one event may use; 0 means DefaultMaxEventSize.
	MaxEventSize int

	r          io.Reader
	bufSize    int // read buffer size; 0 means readSize (tests use small ones, at least 16)
	buf        []byte
	start, end int
	lf, cr     scan
	rerr       error // error from r, returned once buffered lines are used
	err        error // sticky decoder error
	bomDone    bool  // the start of the stream was checked for a BOM
	pendingCR  bool  // the last line ended with CR at the end of the buffer
	valid      int   // buf[start:valid] is known to be valid UTF-8
	checked    int   // buf[:checked] has been through checkUTF8

	// A line longer than the read buffer is processed as it arrives.
	part        field
	skipSpace   bool // the colon was the last byte seen; skip one space
	retryOK     bool // the partial retry value is all digits so far
	retryDigits bool // the partial retry value has at least one digit
	retryMS     int64

	data       []byte            // data buffer
	typ        []byte            // event type buffer
	id         []byte            // last event ID buffer
	tmp        []byte            // partial id value
	lastID     string            // last event ID string, as of the last blank line
	spans      []span            // see addSpan
	spanBytes  int               // bytes the spans add to the data buffer
	types      map[string]string // interned event types
	lastType   string            // type of the last event
	retry      time.Duration
	retrySet   bool
	hasRetry   bool // the current event block set a valid retry
	blockRetry time.Duration
}

// NewDecoder returns a decoder that reads from r. It reads in large chunks,
// so r need not be buffered.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: r} }

// LastEventID returns the stream's last event ID string as of the last blank
// line: the value an EventSource would send as Last-Event-ID on reconnect.
func (d *Decoder) LastEventID() string { return d.lastID }

// SetLastEventID starts the decoder with id as its last event ID buffer and
// string, as an EventSource does when it reconnects: the ID persists across
// connections, so events of the new stream report it until the stream sets
// another. Call it before the first Next. An id containing CR, LF or NUL
// could never come from a stream; it is ignored.
func (d *Decoder) SetLastEventID(id string) {
	if ValidateID(id) != nil {
		return
	}
	d.id = append(d.id[:0], id...)
	d.lastID = id
}

// Retry returns the last valid reconnection time the stream set, and whether
// it set one. A value too large for a time.Duration is capped at the
// largest Duration.
func (d *Decoder) Retry() (time.Duration, bool) { return d.retry, d.retrySet }

func (d *Decoder) max() int {
	if d.MaxEventSize > 0 {
		return d.MaxEventSize
	}
	return DefaultMaxEventSize
}

// Next returns the next dispatched event, or io.EOF at the end of the
// stream. ID is the last event ID at dispatch (which may have been set by an
// earlier event) and Type is "message" when the event named none. Retry is
// set when the event's own lines set a valid reconnection time. Data is a
// new slice the caller owns.
//
// An event larger than MaxEventSize yields an error wrapping
// [ErrEventTooLarge]; a read error other than io.EOF is returned as is.
// Either error is final: later calls return it again.
func (d *Decoder) Next() (ev Event, err error) {
	if d.err != nil {
		return Event{}, d.err
	}
	if d.buf == nil {
		if d.bufSize == 0 {
			d.bufSize = readSize
		}
		d.buf = make([]byte, d.bufSize)
	}
	for {
		if !d.bomDone && !d.checkBOM() {
			if err := d.fill(); err != nil {
				return Event{}, err
			}
			continue
		}
		if d.pendingCR && d.start < d.end {
			if d.buf[d.start] == '\n' {
				d.start++
			}
			d.pendingCR = false
		}
		for d.start < d.end {
			// The cached positions are usually still valid: look again
			// only when the byte was consumed or not yet searched for.
			lf := d.lf.pos
			if lf < d.start || lf == d.lf.upto && lf < d.end {
				// d.lf.find, inlined by hand for the common case.
				from := d.start
				if lf >= d.start {
					from = d.lf.upto
				}
				if i := bytes.IndexByte(d.buf[from:d.end], '\n'); i >= 0 {
					lf = from + i
				} else {
					lf = d.end
				}
				d.lf.pos, d.lf.upto = lf, d.end
			}
			eol := d.cr.pos
			if eol < d.start || eol == d.cr.upto && eol < d.end {
				eol = d.cr.find(d.buf, d.start, d.end, '\r')
			}
			next := eol + 1
			if lf < eol {
				eol, next = lf, lf+1
			} else if eol < d.end {
				if next == d.end {
					d.pendingCR = true
				} else if d.buf[next] == '\n' {
					next++
				}
			} else {
				break // no line end in the buffer
			}
			line := d.buf[d.start:eol]
			d.start = next
			switch {
			case d.part != fieldNone:
				err = d.finishPart(line)
			case len(line) == 0:
				if d.dispatch(&ev) {
					return ev, nil
				}
			default:
				err = d.field(line, eol <= d.valid)
			}
			if err != nil {
				d.err = err
				return Event{}, err
			}
			if d.pendingCR {
				break
			}
		}
		if d.start < d.end && d.start == 0 && d.end == len(d.buf) {
			// A line longer than the buffer: process what we have.
			if err := d.partial(); err != nil {
				d.err = err
				return Event{}, err
			}
		}
		if err := d.fill(); err != nil {
			return Event{}, err
		}
	}
}

// checkBOM skips a byte order mark at the start of the stream. It reports
// false when more bytes are needed to decide.
func (d *Decoder) checkBOM() bool {
	const bom = "\xEF\xBB\xBF"
	b := d.buf[d.start:d.end]
	for i := 0; i < len(b) && i < len(bom); i++ {
		if b[i] != bom[i] {
			d.bomDone = true
			return true
		}
	}
	if len(b) >= len(bom) {
		d.start += len(bom)
		d.bomDone = true
		return true
	}
	if d.rerr != nil {
		d.bomDone = true
		return true
	}
	return false
}

// fill reads more bytes into the buffer. It returns the final error (io.EOF
// or the read error) once the reader has nothing more.
func (d *Decoder) fill() error {
	d.flush() // the spans refer to bytes that compaction moves
	if d.rerr != nil {
		if d.rerr == io.EOF {
			d.err = io.EOF
		} else {
			d.err = d.rerr
		}
		return d.err
	}
	if d.start > 0 {
		n := copy(d.buf, d.buf[d.start:d.end])
		shift := d.start
		d.start, d.end = 0, n
		d.lf.pos -= shift
		d.valid -= shift
		d.checked -= shift
		d.lf.upto -= shift
		d.cr.pos -= shift
		d.cr.upto -= shift
	}
	for range 100 {
		n, err := d.r.Read(d.buf[d.end:])
		if n < 0 || n > len(d.buf)-d.end {
			d.rerr = errors.New("sse: reader returned invalid count")
			return nil
		}
		d.end += n
		if err != nil {
			d.rerr = err
		}
		if n > 0 || err != nil {
			d.checkUTF8()
			return nil
		}
	}
	d.rerr = io.ErrNoProgress
	return nil
}

// checkUTF8 validates the newly read bytes as a whole, so that lines within
// d.valid need no check of their own. It keeps the invariant that
// buf[start:valid] is valid UTF-8 ending on a character boundary; bytes in
// [valid, checked) were checked and found invalid (or follow invalid bytes)
// and are checked line by line instead.
func (d *Decoder) checkUTF8() {
	lo := max(d.checked, d.start)
	if d.valid < d.start {
		d.valid = d.start
	}
	tail := d.end - incompleteTail(d.buf[lo:d.end])
	if tail <= lo {
		return
	}
	if d.valid == lo && utf8.Valid(d.buf[lo:tail]) {
		d.valid = tail
	}
	d.checked = tail
}

// field processes one complete, non-empty line (without its terminator).
// valid tells that line is known to be valid UTF-8.
func (d *Decoder) field(line []byte, valid bool) error {
	var name, value []byte
	// Fast paths for the usual spellings; the general split below gives
	// the same result.
	switch {
	case len(line) >= 5 && line[4] == ':' && string(line[:4]) == "data":
		name, value = line[:4], line[5:]
	case len(line) >= 3 && line[2] == ':' && line[0] == 'i' && line[1] == 'd':
		name, value = line[:2], line[3:]
	case len(line) >= 6 && line[5] == ':' && string(line[:5]) == "event":
		name, value = line[:5], line[6:]
	case line[0] == ':':
		return nil // comment
	default:
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			name, value = line[:i], line[i+1:]
		} else {
			name = line
		}
	}
	if len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	var err error
	switch string(name) {
	case "data":
		if valid {
			if err := d.room(len(value) + 1); err != nil {
				return err
			}
			d.addSpan(value)
			return nil
		}
		d.flush()
		if d.data, err = d.appendValue(d.data, value, 1, valid); err != nil {
			return err
		}
		d.data = append(d.data, '\n')
	case "event":
		d.typ = d.typ[:0]
		d.typ, err = d.appendValue(d.typ, value, 0, valid)
	case "id":
		if bytes.IndexByte(value, 0) >= 0 {
			break
		}
		d.tmp = d.tmp[:0]
		if d.tmp, err = d.appendValue(d.tmp, value, -len(d.id), valid); err != nil {
			return err
		}
		d.id, d.tmp = d.tmp, d.id[:0]
	case "retry":
		if len(value) == 0 {
			break
		}
		var ms int64
		for _, c := range value {
			if c < '0' || c > '9' {
				return nil
			}
			ms = addDigit(ms, c)
		}
		d.setRetry(ms)
	}
	return err
}

// addDigit returns ms*10 + digit c, saturating at the largest number of
// milliseconds a time.Duration holds.
func addDigit(ms int64, c byte) int64 {
	const limit = math.MaxInt64 / int64(time.Millisecond)
	ms = ms*10 + int64(c-'0')
	if ms > limit || ms < 0 {
		return limit + 1
	}
	return ms
}

func (d *Decoder) setRetry(ms int64) {
	const limit = math.MaxInt64 / int64(time.Millisecond)
	r := time.Duration(math.MaxInt64)
	if ms <= limit {
		r = time.Duration(ms) * time.Millisecond
	}
	d.retry, d.retrySet = r, true
	d.blockRetry, d.hasRetry = r, true
}

// room returns an error if adding n bytes to the event would pass the bound.
func (d *Decoder) room(n int) error {
	used := len(d.data) + d.spanBytes + len(d.typ) + len(d.id) + len(d.tmp)
	if n > d.max()-used {
		return fmt.Errorf("%w (limit %d bytes)", ErrEventTooLarge, d.max())
	}
	return nil
}

// dispatch handles a blank line.
//
// It makes at most one allocation: the event's Data, which when small also
// holds the bytes of a new last event ID string (Data's capacity is capped,
// so the caller cannot reach them). Type strings are interned.
func (d *Decoder) dispatch(ev *Event) bool {
	newID := string(d.id) != d.lastID
	retry, hasRetry := d.blockRetry, d.hasRetry
	d.hasRetry, d.blockRetry = false, 0
	total := len(d.data) + d.spanBytes // the data buffer's length
	if total == 0 {
		if newID {
			d.lastID = string(d.id)
		}
		d.typ = d.typ[:0]
		return false
	}
	n := total - 1 // without the final LF
	var blk []byte
	if newID && len(d.id) > 0 && n+len(d.id) <= shareLimit {
		blk = make([]byte, n+len(d.id))
		copy(blk[n:], d.id)
		d.lastID = unsafe.String(&blk[n], len(d.id))
	} else {
		if newID {
			d.lastID = string(d.id)
		}
		blk = make([]byte, n)
	}
	ev.Data = blk[:n:n]
	d.copyData(ev.Data)
	ev.ID = d.lastID
	ev.Type = d.intern()
	if hasRetry {
		ev.Retry = retry
	}
	d.typ = d.typ[:0]
	if cap(d.data) > maxKeep {
		d.data = nil
	} else {
		d.data = d.data[:0]
	}
	d.spans, d.spanBytes = d.spans[:0], 0
	return true
}

// span is a data line value still in the read buffer, buf[s:e].
type span struct{ s, e int }

// The data buffer is d.data followed by each span and an LF. Valid lines
// are kept as spans until dispatch or the next read, so that their bytes
// are copied once, into the event's Data, instead of twice.

// addSpan appends the data value v, which must lie in d.buf.
func (d *Decoder) addSpan(v []byte) {
	var sp span
	if len(v) > 0 {
		sp.s = cap(d.buf) - cap(v) // offset of v in d.buf
		sp.e = sp.s + len(v)
	}
	d.spans = append(d.spans, sp)
	d.spanBytes += len(v) + 1
}

// flush moves the spans into d.data.
func (d *Decoder) flush() {
	for _, sp := range d.spans {
		d.data = append(d.data, d.buf[sp.s:sp.e]...)
		d.data = append(d.data, '\n')
	}
	d.spans, d.spanBytes = d.spans[:0], 0
}

// copyData copies the data buffer into dst, dropping what does not fit
// (the final LF).
func (d *Decoder) copyData(dst []byte) {
	n := copy(dst, d.data)
	for _, sp := range d.spans {
		n += copy(dst[n:], d.buf[sp.s:sp.e])
		if n < len(dst) {
			dst[n] = '\n'
			n++
		}
	}
}

// shareLimit is the largest event whose Data shares its allocation with the
// last event ID string. The decoder keeps that string, so sharing keeps the
// event's Data alive until the ID changes; the limit bounds that cost.
const shareLimit = 4 << 10

// maxTypes bounds the number of interned event type strings.
const maxTypes = 64

// intern returns the event type buffer as a string ("message" when empty),
// reusing the string of an earlier event of the same type.
func (d *Decoder) intern() string {
	if len(d.typ) == 0 {
		return "message"
	}
	if string(d.typ) == d.lastType {
		return d.lastType
	}
	s, ok := d.types[string(d.typ)]
	if !ok {
		s = string(d.typ)
		if d.types == nil {
			d.types = make(map[string]string)
		}
		if len(d.types) < maxTypes && len(s) <= 256 {
			d.types[s] = s
		}
	}
	d.lastType = s
	return s
}

// partial processes the start of a line that fills the whole buffer, so the
// buffer can be reused for the rest of it. It leaves at most 3 bytes (an
// incomplete UTF-8 sequence) unconsumed.
func (d *Decoder) partial() error {
	chunk := d.buf[d.start:d.end]
	if d.part == fieldNone {
		if chunk[0] == ':' {
			d.part = fieldIgnore
		} else if i := bytes.IndexByte(chunk, ':'); i < 0 {
			// A name longer than any known field: ignore the line.
			d.part = fieldIgnore
		} else {
			switch string(chunk[:i]) {
			case "data":
				d.part = fieldData
			case "event":
				d.part = fieldEvent
				d.typ = d.typ[:0]
			case "id":
				d.part = fieldID
				d.tmp = d.tmp[:0]
			case "retry":
				d.part = fieldRetry
				d.retryOK, d.retryDigits, d.retryMS = true, false, 0
			default:
				d.part = fieldIgnore
			}
			d.skipSpace = true
			chunk = chunk[i+1:]
			d.start += i + 1
		}
	}
	keep := 0
	if d.part != fieldIgnore && d.part != fieldRetry {
		keep = incompleteTail(chunk)
	}
	err := d.appendPart(chunk[:len(chunk)-keep])
	d.start = d.end - keep
	return err
}

// appendPart adds a piece of the value of the line being streamed.
func (d *Decoder) appendPart(v []byte) error {
	if d.skipSpace && len(v) > 0 {
		d.skipSpace = false
		if v[0] == ' ' {
			v = v[1:]
		}
	}
	var err error
	switch d.part {
	case fieldData:
		d.flush()
		d.data, err = d.appendValue(d.data, v, 1, false)
	case fieldEvent:
		d.typ, err = d.appendValue(d.typ, v, 0, false)
	case fieldID:
		d.tmp, err = d.appendValue(d.tmp, v, -len(d.id), false) // the id buffer will be replaced
	case fieldRetry:
		for _, c := range v {
			if c < '0' || c > '9' {
				d.retryOK = false
				break
			}
			d.retryDigits = true
			d.retryMS = addDigit(d.retryMS, c)
		}
	}
	return err
}

// appendValue appends v, with invalid UTF-8 replaced, to dst (one of the
// event's buffers), unless that would take the event past MaxEventSize.
// extra is added to the size checked (for a following LF, or negative for
// a buffer that the value replaces).
// valid tells that v is known to be valid UTF-8.
func (d *Decoder) appendValue(dst, v []byte, extra int, valid bool) ([]byte, error) {
	valid = valid || utf8.Valid(v)
	n := len(v)
	if !valid {
		n = utf8Size(v)
	}
	if err := d.room(n + extra); err != nil {
		return dst, err
	}
	if valid {
		return append(dst, v...), nil
	}
	return appendUTF8Slow(dst, v), nil
}

// finishPart adds the last piece of a streamed line and applies the field.
func (d *Decoder) finishPart(v []byte) error {
	if err := d.appendPart(v); err != nil {
		return err
	}
	switch d.part {
	case fieldData:
		d.data = append(d.data, '\n')
	case fieldID:
		if bytes.IndexByte(d.tmp, 0) < 0 {
			d.id, d.tmp = d.tmp, d.id[:0]
		}
		d.tmp = d.tmp[:0]
	case fieldRetry:
		if d.retryOK && d.retryDigits {
			d.setRetry(d.retryMS)
		}
	}
	d.part, d.skipSpace = fieldNone, false
	return nil
}
