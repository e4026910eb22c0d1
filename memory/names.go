package memory

import "sort"

// names is a sorted set of strings kept in chunks of at most maxChunk, so
// that adding or removing a name moves at most a chunk's worth of entries
// (a single sorted slice would move all of them: a log whose every event has
// its own topic adds and removes a name on every append), while seeking
// stays a binary search.
type names struct {
	chunks [][]string // each sorted and non-empty; chunks in order
	n      int
}

const maxChunk = 512

// chunkFor returns the index of the chunk that holds s or would hold it.
func (ns *names) chunkFor(s string) int {
	// The last chunk whose first name is <= s.
	i := sort.Search(len(ns.chunks), func(i int) bool { return ns.chunks[i][0] > s })
	return max(i-1, 0)
}

// add inserts s; it reports false when s was already there.
func (ns *names) add(s string) bool {
	if len(ns.chunks) == 0 {
		ns.chunks = [][]string{{s}}
		ns.n = 1
		return true
	}
	ci := ns.chunkFor(s)
	c := ns.chunks[ci]
	j := sort.SearchStrings(c, s)
	if j < len(c) && c[j] == s {
		return false
	}
	c = append(c, "")
	copy(c[j+1:], c[j:])
	c[j] = s
	ns.n++
	if len(c) <= maxChunk {
		ns.chunks[ci] = c
		return true
	}
	// Split in two halves.
	left := append([]string(nil), c[:len(c)/2]...)
	right := append([]string(nil), c[len(c)/2:]...)
	ns.chunks = append(ns.chunks, nil)
	copy(ns.chunks[ci+2:], ns.chunks[ci+1:])
	ns.chunks[ci], ns.chunks[ci+1] = left, right
	return true
}

// remove deletes s if present.
func (ns *names) remove(s string) {
	if len(ns.chunks) == 0 {
		return
	}
	ci := ns.chunkFor(s)
	c := ns.chunks[ci]
	j := sort.SearchStrings(c, s)
	if j == len(c) || c[j] != s {
		return
	}
	copy(c[j:], c[j+1:])
	c[len(c)-1] = ""
	c = c[:len(c)-1]
	ns.n--
	if len(c) == 0 {
		ns.chunks = append(ns.chunks[:ci], ns.chunks[ci+1:]...)
		return
	}
	ns.chunks[ci] = c
}

// after calls fn for each name greater than s, in order, until fn returns
// false.
func (ns *names) after(s string, fn func(string) bool) {
	if len(ns.chunks) == 0 {
		return
	}
	ci := ns.chunkFor(s)
	j := sort.Search(len(ns.chunks[ci]), func(j int) bool { return ns.chunks[ci][j] > s })
	for ; ci < len(ns.chunks); ci, j = ci+1, 0 {
		for _, name := range ns.chunks[ci][j:] {
			if !fn(name) {
				return
			}
		}
	}
}

// from calls fn for each name >= s, in order, until fn returns false.
func (ns *names) from(s string, fn func(string) bool) {
	if len(ns.chunks) == 0 {
		return
	}
	ci := ns.chunkFor(s)
	j := sort.SearchStrings(ns.chunks[ci], s)
	for ; ci < len(ns.chunks); ci, j = ci+1, 0 {
		for _, name := range ns.chunks[ci][j:] {
			if !fn(name) {
				return
			}
		}
	}
}
