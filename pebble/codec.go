package pebble

import (
	"errors"
	"fmt"

	"github.com/ssehub/ssehub"
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
