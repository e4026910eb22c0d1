package hub

import (
	"sync/atomic"

	"github.com/ssehub/ssehub"
)

// item is one live event with its encodings, shared by every subscriber and
// the hot tier. The event is immutable once the item is published.
type item struct {
	ev  ssehub.Event
	enc [numFormats]atomic.Pointer[[]byte]
}

// bytes returns the event's SSE bytes in format f, encoding them on first
// use. Concurrent first uses may encode twice; both results are identical
// and one wins, so callers always share one slice afterwards.
func (it *item) bytes(f Format) []byte {
	if p := it.enc[f].Load(); p != nil {
		return *p
	}
	b, _ := AppendSSE(nil, nil, &it.ev, f)
	if it.enc[f].CompareAndSwap(nil, &b) {
		return b
	}
	return *it.enc[f].Load()
}
