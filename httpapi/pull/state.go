package pull

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ref is one event a pull endpoint has handed out: its id, and its topic so
// that a count narrowed by ?event_type= can tell whether it matches.
type ref struct {
	ID    uint64
	Topic string
}

// batch is an extract's events, unconfirmed: live until Expires, then
// expired (its events go out again with a later extract). Events are in id
// order.
type batch struct {
	ID      uint64
	Expires int64 // Unix milliseconds
	Events  []ref
}

// state is everything a pull endpoint remembers, stored durably as one KV
// value, so that every change (an extract, a confirmation) is one atomic
// write: a crash leaves the state before the change or after it.
//
// Every event its match selects with an id up to Cursor has been handed
// out: it is in a batch (live or expired) or it was confirmed. Above the
// cursor an event is new unless it is in a batch or in Done (confirmed
// while an older event stayed new, as a narrowed extract leaves it).
type state struct {
	Cursor    uint64
	LastBatch uint64 // the id of the newest batch; ids never repeat
	Batches   []*batch
	Done      []ref  // confirmed events above Cursor, in id order
	Lost      uint64 // events of expired batches that retention removed
}

// index is a state's lookups, rebuilt after each change.
type index struct {
	owner map[uint64]*batch // event id -> its batch
	done  map[uint64]struct{}
}

func (st *state) index() index {
	x := index{owner: make(map[uint64]*batch), done: make(map[uint64]struct{}, len(st.Done))}
	for _, b := range st.Batches {
		for _, r := range b.Events {
			x.owner[r.ID] = b
		}
	}
	for _, r := range st.Done {
		x.done[r.ID] = struct{}{}
	}
	return x
}

// clone returns a copy that can be changed without changing st; batches
// are shared until replaced.
func (st *state) clone() *state {
	c := *st
	c.Batches = slices.Clone(st.Batches)
	c.Done = slices.Clone(st.Done)
	return &c
}

func (st *state) batch(id uint64) (int, *batch) {
	for i, b := range st.Batches {
		if b.ID == id {
			return i, b
		}
	}
	return -1, nil
}

// stateVersion is the first byte of an encoded state.
const stateVersion = 1

// encode returns st as the KV stores it: a version byte, then unsigned
// varints (ids as deltas, topics as indexes into a table written first).
func (st *state) encode() []byte {
	topics := map[string]uint64{}
	var table []string
	intern := func(t string) uint64 {
		i, ok := topics[t]
		if !ok {
			i = uint64(len(table))
			topics[t] = i
			table = append(table, t)
		}
		return i
	}
	for _, b := range st.Batches {
		for _, r := range b.Events {
			intern(r.Topic)
		}
	}
	for _, r := range st.Done {
		intern(r.Topic)
	}
	out := []byte{stateVersion}
	u := func(v uint64) { out = binary.AppendUvarint(out, v) }
	refs := func(rs []ref) {
		u(uint64(len(rs)))
		var prev uint64
		for _, r := range rs {
			u(r.ID - prev)
			u(topics[r.Topic])
			prev = r.ID
		}
	}
	u(st.Cursor)
	u(st.LastBatch)
	u(st.Lost)
	u(uint64(len(table)))
	for _, t := range table {
		u(uint64(len(t)))
		out = append(out, t...)
	}
	u(uint64(len(st.Batches)))
	for _, b := range st.Batches {
		u(b.ID)
		out = binary.AppendVarint(out, b.Expires)
		refs(b.Events)
	}
	refs(st.Done)
	return out
}

var errCorrupt = errors.New("pull: corrupt state")

// decodeState is encode's inverse.
func decodeState(b []byte) (*state, error) {
	if len(b) == 0 || b[0] != stateVersion {
		return nil, fmt.Errorf("%w: unknown version", errCorrupt)
	}
	b = b[1:]
	var err error
	u := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			err = errCorrupt
			return 0
		}
		b = b[n:]
		return v
	}
	st := &state{Cursor: u(), LastBatch: u(), Lost: u()}
	n := u()
	if err != nil || n > uint64(len(b)) {
		return nil, errCorrupt
	}
	table := make([]string, 0, n)
	for range n {
		l := u()
		if err != nil || l > uint64(len(b)) {
			return nil, errCorrupt
		}
		table = append(table, string(b[:l]))
		b = b[l:]
	}
	refs := func() []ref {
		n := u()
		if err != nil || n > uint64(len(b)) {
			err = errCorrupt
			return nil
		}
		out := make([]ref, 0, n)
		var prev uint64
		for range n {
			id, t := prev+u(), u()
			if err != nil || t >= uint64(len(table)) {
				err = errCorrupt
				return nil
			}
			out = append(out, ref{ID: id, Topic: table[t]})
			prev = id
		}
		return out
	}
	nb := u()
	if err != nil || nb > uint64(len(b)) {
		return nil, errCorrupt
	}
	for range nb {
		bt := &batch{ID: u()}
		v, k := binary.Varint(b)
		if k <= 0 {
			return nil, errCorrupt
		}
		b = b[k:]
		bt.Expires = v
		bt.Events = refs()
		st.Batches = append(st.Batches, bt)
	}
	st.Done = refs()
	if err != nil {
		return nil, err
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(b))
	}
	return st, nil
}
