package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/record"
)

// An event is stored under its big-endian id as:
//
//	0x00 0x01 crc32c(body, 4 bytes little-endian) body
//
// where body is the event as package internal/record encodes it. The
// checksum lets a read, `ssehub check` and salvage tell a damaged record
// from a good one. Records written before the
// checksum (format 1) are the bare body; their first byte is the topic's
// length, never 0, so the two are told apart.

var errCorrupt = fmt.Errorf("bolt: %w", record.ErrCorrupt)

const recordHeader = 6

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func itob(id uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return b[:]
}

// encodedLen returns the length of ev's record (an upper bound: the
// time's varint is counted at its largest).
func encodedLen(ev *ssehub.Event) int { return recordHeader + record.Len(ev) }

func encodeEvent(dst []byte, ev *ssehub.Event) []byte {
	start := len(dst)
	dst = append(dst, 0, 1, 0, 0, 0, 0)
	dst = record.Append(dst, ev)
	binary.LittleEndian.PutUint32(dst[start+2:], crc32.Checksum(dst[start+recordHeader:], castagnoli))
	return dst
}

// body returns the record's body, checking the checksum when verify is set.
func body(v []byte, verify bool) ([]byte, error) {
	if len(v) > 0 && v[0] == 0 {
		if len(v) < recordHeader || v[1] != 1 {
			return nil, errCorrupt
		}
		b := v[recordHeader:]
		if verify && crc32.Checksum(b, castagnoli) != binary.LittleEndian.Uint32(v[2:]) {
			return nil, errCorrupt
		}
		return b, nil
	}
	// A record of the older format begins with its topic. A checksummed
	// record whose format byte lost its 0 to a flipped bit reads as one,
	// with a "topic" that begins with the format's 0x01: no topic does, so
	// the damage is told from an old record.
	if t, _, err := record.Topic(v); err != nil || (ssehub.ValidateTopic(string(t)) != nil && !ssehub.IsSys(string(t))) {
		return nil, errCorrupt
	}
	return v, nil
}

// topicOf returns the topic bytes of an encoded event without copying or
// checking the checksum (a scan skips most records), and the rest of the body.
func topicOf(v []byte) ([]byte, []byte, error) {
	b, err := body(v, false)
	if err != nil {
		return nil, nil, err
	}
	t, rest, err := record.Topic(b)
	return t, rest, wrapCorrupt(err)
}

// decodeInto fills ev from a record whose topic was read by topicOf.
// Strings are copied; Data and Meta alias the record, which is only valid
// inside the read transaction. The checksum is verified first.
func decodeInto(ev *ssehub.Event, id uint64, topic string, v []byte) error {
	b, err := body(v, true)
	if err != nil {
		return err
	}
	return wrapCorrupt(record.Decode(ev, id, topic, b))
}

// decodeOwned decodes a record into an event that owns its bytes.
func decodeOwned(id uint64, v []byte) (*ssehub.Event, error) {
	b, err := body(v, true)
	if err != nil {
		return nil, err
	}
	ev, err := record.DecodeOwned(id, b)
	return ev, wrapCorrupt(err)
}

// recordInfo returns the topic, Event.Size and time of the event a record
// holds, so retention subtracts from the byte total exactly what commit
// added. It does not verify the checksum: retention must be able to remove
// a damaged record.
func recordInfo(v []byte) (topic []byte, size int64, ns int64, err error) {
	b, err := body(v, false)
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
