package hub

import (
	"strconv"
	"sync/atomic"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
)

// An encoding is how a subscriber renders events: a format and whether its
// ids carry the log's epoch. Each event is encoded at most once per
// encoding and the bytes are shared by every subscriber using it.
type encoding uint8

func encodingOf(formatIndex int, epochIDs bool) encoding {
	e := encoding(formatIndex) << 1
	if epochIDs {
		e |= 1
	}
	return e
}

func (e encoding) format() format.Format { return format.ByIndex(int(e >> 1)) }
func (e encoding) epochIDs() bool        { return e&1 != 0 }

// numEncodings bounds the encoding values.
const numEncodings = format.MaxFormats * 2

// appendID appends ev's id as its SSE id field text in encoding e.
func (h *Hub) appendID(dst []byte, id uint64, e encoding) []byte {
	dst = strconv.AppendUint(dst, id, 10)
	if e.epochIDs() {
		dst = append(dst, '@')
		dst = append(dst, h.epoch...)
	}
	return dst
}

// encode appends ev in encoding e to dst.
func (h *Hub) encode(dst []byte, ev *ssehub.Event, e encoding) []byte {
	var idBuf [48]byte
	return e.format().Encode(dst, ev, string(h.appendID(idBuf[:0], ev.ID, e)))
}

// item is one live event with its encodings, shared by every subscriber and
// the hot tier. The event is owned (the log's Follow hands it over) and
// never modified.
type item struct {
	ev  *ssehub.Event
	enc atomic.Pointer[encNode]
}

// encNode is one of an item's encodings, in an immutable list that grows
// at its head (most items have one or two): one allocation per encoding
// beside the bytes, as the live feed makes one item per event.
type encNode struct {
	key  encoding
	b    []byte
	next *encNode
}

// bytes returns the event's bytes in encoding e, encoding them on first
// use. Concurrent first uses may encode twice; both results are identical
// and one wins, so callers share one slice afterwards.
func (it *item) bytes(h *Hub, e encoding) []byte {
	var b []byte
	for {
		head := it.enc.Load()
		for n := head; n != nil; n = n.next {
			if n.key == e {
				return n.b
			}
		}
		if b == nil {
			b = h.encode(nil, it.ev, e)
		}
		if it.enc.CompareAndSwap(head, &encNode{key: e, b: b, next: head}) {
			return b
		}
	}
}
