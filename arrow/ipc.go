package arrow

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ErrInvalid is wrapped by the errors of bodies that are not what they
// claim: an IPC stream that does not parse, JSON rows that do not fit.
var ErrInvalid = errors.New("invalid Arrow data")

// MediaType is the Content-Type of an Arrow IPC stream.
const MediaType = "application/vnd.apache.arrow.stream"

// FileMediaType is the Content-Type of an Arrow IPC file.
const FileMediaType = "application/vnd.apache.arrow.file"

// Batch is one record batch as an event carries it: an IPC stream of the
// schema and that one batch, which a client decodes on its own.
type Batch struct {
	// Data is the IPC stream.
	Data []byte
	// Rows is the batch's row count.
	Rows int64
}

// Payload is what one ingest request holds: its schema and its record
// batches, each ready to be an event.
type Payload struct {
	Schema  *Schema
	Batches []Batch
}

// Rows returns the row count of every batch together.
func (p *Payload) Rows() int64 {
	var n int64
	for _, b := range p.Batches {
		n += b.Rows
	}
	return n
}

// DefaultMaxDecoded bounds the memory that reading one IPC body may take,
// whatever the body claims (a compressed buffer states its own size).
const DefaultMaxDecoded = 64 << 20

// ReadIPC validates body as an Arrow IPC stream: it reads it whole, and
// requires a schema, at least one record batch and nothing after the end of
// the stream. maxDecoded bounds the memory reading takes (<= 0:
// DefaultMaxDecoded); past it the body is refused.
//
// A stream of one record batch is kept as it came (Batch.Data is body, not
// a copy: zero copy); a stream of several is written again as one stream per
// batch (each the schema, its dictionaries and the batch), so that every
// event holds exactly one batch. Errors wrap ErrInvalid.
func ReadIPC(body []byte, maxDecoded int64) (p *Payload, err error) {
	defer recoverInvalid(&err)
	if maxDecoded <= 0 {
		maxDecoded = DefaultMaxDecoded
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: the body is empty", ErrInvalid)
	}
	alloc := newBoundedAllocator(maxDecoded)
	br := bytes.NewReader(body)
	r, err := ipc.NewReader(br, ipc.WithAllocator(alloc), ipc.WithBodySizeLimit(maxDecoded), ipc.WithMetadataSizeLimit(maxDecoded))
	if err != nil {
		return nil, fmt.Errorf("%w: not an Arrow IPC stream: %v", ErrInvalid, err)
	}
	defer r.Release()
	var recs []arrow.RecordBatch
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: record batch %d: %v", ErrInvalid, len(recs)+1, err)
	}
	if br.Len() > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the end of the stream (one stream a request)", ErrInvalid, br.Len())
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: the stream holds a schema but no record batch", ErrInvalid)
	}
	for i, rec := range recs {
		if err := validate(rec, i); err != nil {
			return nil, err
		}
	}
	s, err := NewSchema(r.Schema())
	if err != nil {
		return nil, err
	}
	p = &Payload{Schema: s}
	if len(recs) == 1 {
		p.Batches = []Batch{{Data: body, Rows: recs[0].NumRows()}}
		return p, nil
	}
	for _, rec := range recs {
		b, err := EncodeBatch(r.Schema(), rec)
		if err != nil {
			return nil, err
		}
		p.Batches = append(p.Batches, Batch{Data: b, Rows: rec.NumRows()})
	}
	return p, nil
}

// ReadIPCFile validates body as an Arrow IPC file (the random-access
// format, "ARROW1" magic and footer) and returns one stream per record
// batch, written again with arrow-go (a file is not a stream: it cannot be
// kept as it came). It requires at least one batch; maxDecoded is as for
// ReadIPC. Errors wrap ErrInvalid.
func ReadIPCFile(body []byte, maxDecoded int64) (p *Payload, err error) {
	defer recoverInvalid(&err)
	if maxDecoded <= 0 {
		maxDecoded = DefaultMaxDecoded
	}
	r, err := ipc.NewFileReader(bytes.NewReader(body), ipc.WithAllocator(newBoundedAllocator(maxDecoded)),
		ipc.WithBodySizeLimit(maxDecoded), ipc.WithMetadataSizeLimit(maxDecoded))
	if err != nil {
		return nil, fmt.Errorf("%w: not an Arrow IPC file: %v", ErrInvalid, err)
	}
	defer r.Close()
	if r.NumRecords() == 0 {
		return nil, fmt.Errorf("%w: the file holds a schema but no record batch", ErrInvalid)
	}
	s, err := NewSchema(r.Schema())
	if err != nil {
		return nil, err
	}
	p = &Payload{Schema: s}
	for i := range r.NumRecords() {
		rec, err := r.RecordBatch(i)
		if err != nil {
			return nil, fmt.Errorf("%w: record batch %d: %v", ErrInvalid, i+1, err)
		}
		if err := validate(rec, i); err != nil {
			return nil, err
		}
		b, err := EncodeBatch(r.Schema(), rec)
		if err != nil {
			return nil, err
		}
		p.Batches = append(p.Batches, Batch{Data: b, Rows: rec.NumRows()})
	}
	return p, nil
}

// validate checks every value of record batch i (0-based) against its
// layout: arrow-go's reader checks buffer sizes, not what they hold, and a
// dictionary index past the dictionary or offsets that go backwards parse
// and then panic every consumer that reads them. The hub stores a batch as
// it came, so it must not store one a reader cannot read. O(n) in the
// batch, which MaxBodyBytes and maxDecoded bound.
func validate(rec arrow.RecordBatch, i int) error {
	for c, col := range rec.Columns() {
		var err error
		if hasNull(col.DataType()) {
			// arrow-go's reader gives a null array no buffer, and its
			// validator wants the one (absent) validity buffer of the null
			// layout: rebuild the column's data with it to validate.
			d := withNullSlots(col.Data())
			a := array.MakeFromData(d)
			err = array.ValidateFull(a)
			a.Release()
			d.Release()
		} else {
			err = array.ValidateFull(col)
		}
		if err != nil {
			msg := err.Error() // it may quote a whole value
			if len(msg) > 200 {
				msg = strings.ToValidUTF8(msg[:200], "") + "…"
			}
			return fmt.Errorf("%w: record batch %d: column %d (%.100q): %s", ErrInvalid, i+1, c, rec.ColumnName(c), msg)
		}
	}
	return nil
}

// hasNull reports whether t is or holds the null type.
func hasNull(t arrow.DataType) bool {
	switch t := t.(type) {
	case *arrow.NullType:
		return true
	case *arrow.DictionaryType:
		return hasNull(t.ValueType)
	case arrow.NestedType:
		for _, f := range t.Fields() {
			if hasNull(f.Type) {
				return true
			}
		}
	}
	return false
}

// withNullSlots returns a copy of d (the caller releases it) whose null
// arrays, at any depth, have the one nil buffer of the null layout.
func withNullSlots(d arrow.ArrayData) *array.Data {
	bufs := d.Buffers()
	if d.DataType().ID() == arrow.NULL && len(bufs) == 0 {
		bufs = []*memory.Buffer{nil}
	}
	children := make([]arrow.ArrayData, len(d.Children()))
	for i, c := range d.Children() {
		children[i] = withNullSlots(c)
	}
	defer func() {
		for _, c := range children {
			c.Release()
		}
	}()
	if d.DataType().ID() == arrow.DICTIONARY { // Dictionary() is a typed nil otherwise
		dd := withNullSlots(d.Dictionary())
		defer dd.Release()
		return array.NewDataWithDictionary(d.DataType(), d.Len(), bufs, d.NullN(), d.Offset(), dd)
	}
	return array.NewData(d.DataType(), d.Len(), bufs, children, d.NullN(), d.Offset())
}

// EncodeBatch writes rec as an IPC stream of schema s and the one batch.
func EncodeBatch(s *arrow.Schema, rec arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s), ipc.WithAllocator(memory.DefaultAllocator))
	if err := w.Write(rec); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("arrow: encode batch: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("arrow: encode batch: %w", err)
	}
	return buf.Bytes(), nil
}

// errDecodedTooLarge is what the bounded allocator panics with.
var errDecodedTooLarge = errors.New("decoding takes more memory than allowed")

// boundedAllocator fails (by panicking, which the reader's caller
// recovers) once the bytes it handed out reach its bound: arrow-go
// allocates what a body declares, and a small compressed body may declare
// gigabytes.
type boundedAllocator struct {
	mem  memory.Allocator
	left int64
}

func newBoundedAllocator(limit int64) *boundedAllocator {
	return &boundedAllocator{mem: memory.NewGoAllocator(), left: limit}
}

func (a *boundedAllocator) take(n int) {
	if a.left -= int64(n); a.left < 0 {
		panic(errDecodedTooLarge)
	}
}

func (a *boundedAllocator) Allocate(size int) []byte {
	a.take(size)
	return a.mem.Allocate(size)
}

func (a *boundedAllocator) Reallocate(size int, b []byte) []byte {
	a.take(max(size-len(b), 0))
	return a.mem.Reallocate(size, b)
}

func (a *boundedAllocator) Free(b []byte) { a.mem.Free(b) }

// recoverInvalid turns a panic in arrow-go's decoding of untrusted bytes
// into an error wrapping ErrInvalid.
func recoverInvalid(err *error) {
	if r := recover(); r != nil {
		if e, ok := r.(error); ok && errors.Is(e, errDecodedTooLarge) {
			*err = fmt.Errorf("%w: %v", ErrInvalid, e)
			return
		}
		*err = fmt.Errorf("%w: the stream is malformed (%v)", ErrInvalid, r)
	}
}
