package pebble

import (
	"errors"
	"fmt"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/groupcommit"
	"github.com/ssehub/ssehub/internal/record"
)

// An event record is
//
//	0x01 (the record format) body
//
// where body is the event as package internal/record encodes it. Unlike
// bolt's, the record carries no checksum of its
// own: pebble checksums every WAL chunk and every sstable block and checks
// them on every read.

var errCorrupt = fmt.Errorf("pebble: %w", record.ErrCorrupt)

const recordFormat = 1

// encodedLen returns an upper bound of the length of ev's record.
func encodedLen(ev *ssehub.Event) int { return 1 + record.Len(ev) }

func encodeEvent(dst []byte, ev *ssehub.Event) []byte {
	return record.Append(append(dst, recordFormat), ev)
}

// body returns a record's body after its format byte.
func body(v []byte) ([]byte, error) {
	if len(v) == 0 || v[0] != recordFormat {
		return nil, errCorrupt
	}
	return v[1:], nil
}

// topicOf returns the topic bytes of a record without copying, and the
// rest of the record after it.
func topicOf(v []byte) ([]byte, []byte, error) {
	b, err := body(v)
	if err != nil {
		return nil, nil, err
	}
	t, rest, err := record.Topic(b)
	return t, rest, wrapCorrupt(err)
}

// decodeInto fills ev from a record whose topic is topic. Strings are
// copied; Data and Meta alias v.
func decodeInto(ev *ssehub.Event, id uint64, topic string, v []byte) error {
	b, err := body(v)
	if err != nil {
		return err
	}
	return wrapCorrupt(record.Decode(ev, id, topic, b))
}

// decodeOwned decodes a record into an event that owns its bytes.
func decodeOwned(id uint64, v []byte) (*ssehub.Event, error) {
	b, err := body(v)
	if err != nil {
		return nil, err
	}
	ev, err := record.DecodeOwned(id, b)
	return ev, wrapCorrupt(err)
}

// owned returns a copy of b whose capacity is its length.
func owned(b []byte) []byte { return record.Owned(b) }

// recordInfo returns the topic, Event.Size and time of the event a record
// holds, so retention subtracts from the byte total exactly what commit
// added.
func recordInfo(v []byte) (topic []byte, size int64, ns int64, err error) {
	b, err := body(v)
	if err != nil {
		return nil, 0, 0, err
	}
	topic, size, ns, err = record.Info(b)
	return topic, size, ns, wrapCorrupt(err)
}

// wrapCorrupt names the store in a record's decoding error.
func wrapCorrupt(err error) error {
	if errors.Is(err, record.ErrCorrupt) {
		return errCorrupt
	}
	return err
}

// groupOwner gives a group's committed events, for followers, their own
// memory with two allocations a group instead of three an event: the
// events in one array, their Data and Meta in one arena (each slice's
// capacity its length).
type groupOwner struct {
	evs   []ssehub.Event
	arena []byte
}

func newGroupOwner(reqs []*groupcommit.Request) *groupOwner {
	n, size := 0, 0
	for _, r := range reqs {
		n += len(r.Events)
		for _, e := range r.Events {
			size += len(e.Data) + len(e.Meta)
		}
	}
	return &groupOwner{evs: make([]ssehub.Event, 0, n), arena: make([]byte, 0, size)}
}

// own returns an owned copy of ev: at most one per event of the group.
func (g *groupOwner) own(ev *ssehub.Event) *ssehub.Event {
	g.evs = append(g.evs, *ev) // (were it to grow, earlier pointers would keep the old array)
	c := &g.evs[len(g.evs)-1]
	c.Data, c.Meta = g.bytes(ev.Data), g.bytes(ev.Meta)
	return c
}

func (g *groupOwner) bytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(g.arena)
	g.arena = append(g.arena, b...)
	return g.arena[start:len(g.arena):len(g.arena)]
}
