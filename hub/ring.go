package hub

import (
	"sort"
	"sync"
)

// ring is the hot tier: the most recent events, in id order, kept in memory
// so that most reconnects and catch-ups never touch the log.
type ring struct {
	mu    sync.RWMutex
	items []*item // circular buffer
	start int     // index of the oldest item
	n     int
	bytes int64
	max   int64 // byte bound; 0 = count bound only
}

func newRing(size int, maxBytes int64) *ring {
	if size < 1 {
		size = 1
	}
	return &ring{items: make([]*item, size), max: maxBytes}
}

func (r *ring) at(i int) *item { return r.items[(r.start+i)%len(r.items)] }

// add appends it; ids must be increasing.
func (r *ring) add(it *item) {
	sz := int64(it.ev.Size())
	r.mu.Lock()
	for r.n > 0 && (r.n == len(r.items) || (r.max > 0 && r.bytes+sz > r.max)) {
		old := r.items[r.start]
		r.bytes -= int64(old.ev.Size())
		r.items[r.start] = nil
		r.start = (r.start + 1) % len(r.items)
		r.n--
	}
	r.items[(r.start+r.n)%len(r.items)] = it
	r.n++
	r.bytes += sz
	r.mu.Unlock()
}

// collect appends to dst the items with after < id <= upto, at most max of
// them, and reports whether the ring held every event after `after` when
// called (its oldest item is at most after+1, or it holds nothing newer).
func (r *ring) collect(dst []*item, after, upto uint64, max int) ([]*item, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 || r.at(0).ev.ID > after+1 {
		return dst, false
	}
	i := sort.Search(r.n, func(i int) bool { return r.at(i).ev.ID > after })
	for ; i < r.n && len(dst) < max; i++ {
		it := r.at(i)
		if it.ev.ID > upto {
			break
		}
		dst = append(dst, it)
	}
	return dst, true
}

// reset drops every item: the next one added need not follow the last.
func (r *ring) reset() {
	r.mu.Lock()
	clear(r.items)
	r.start, r.n, r.bytes = 0, 0, 0
	r.mu.Unlock()
}
