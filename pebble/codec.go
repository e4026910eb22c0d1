package pebble

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/ssehub/ssehub"
)

// An event record is
//
//	0x01 (the record format)
//	uvarint len(topic) topic   varint unix-nanos
//	uvarint len(type) type     uvarint len(key) key
//	uvarint len(entity) entity uvarint len(source) source
//	uvarint len(meta) meta     data (the rest)
//
// The topic comes first so that a filtered scan skips an event without
// decoding the rest. Unlike bolt's, the record carries no checksum of its
// own: pebble checksums every WAL chunk and every sstable block and checks
// them on every read.

var errCorrupt = errors.New("pebble: corrupt event record")

const recordFormat = 1

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// encodedLen returns an upper bound of the length of ev's record.
func encodedLen(ev *ssehub.Event) int {
	return 1 + 7*binary.MaxVarintLen64 + len(ev.Topic) + len(ev.Type) + len(ev.Key) + len(ev.Entity) +
		len(ev.Source) + len(ev.Meta) + len(ev.Data)
}

func encodeEvent(dst []byte, ev *ssehub.Event) []byte {
	dst = append(dst, recordFormat)
	dst = appendString(dst, ev.Topic)
	dst = binary.AppendVarint(dst, ev.Time.UnixNano())
	dst = appendString(dst, ev.Type)
	dst = appendString(dst, ev.Key)
	dst = appendString(dst, ev.Entity)
	dst = appendString(dst, ev.Source)
	dst = binary.AppendUvarint(dst, uint64(len(ev.Meta)))
	dst = append(dst, ev.Meta...)
	return append(dst, ev.Data...)
}

func field(v []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return nil, nil, errCorrupt
	}
	return v[k : k+int(n)], v[k+int(n):], nil
}

// topicOf returns the topic bytes of a record without copying, and the
// rest of the record after it.
func topicOf(v []byte) ([]byte, []byte, error) {
	if len(v) == 0 || v[0] != recordFormat {
		return nil, nil, errCorrupt
	}
	return field(v[1:])
}

// decodeInto fills ev from a record whose topic is topic. Strings are
// copied; Data and Meta alias v.
func decodeInto(ev *ssehub.Event, id uint64, topic string, v []byte) error {
	_, rest, err := topicOf(v)
	if err != nil {
		return err
	}
	ns, k := binary.Varint(rest)
	if k <= 0 {
		return errCorrupt
	}
	rest = rest[k:]
	var typ, key, entity, source, meta []byte
	for _, dst := range []*[]byte{&typ, &key, &entity, &source, &meta} {
		if *dst, rest, err = field(rest); err != nil {
			return err
		}
	}
	*ev = ssehub.Event{ID: id, Topic: topic, Type: string(typ), Key: string(key), Entity: string(entity),
		Source: string(source), Data: rest, Time: time.Unix(0, ns).UTC()}
	if len(meta) > 0 {
		ev.Meta = meta
	}
	return nil
}

// decodeOwned decodes a record into an event that owns its bytes.
func decodeOwned(id uint64, v []byte) (*ssehub.Event, error) {
	tb, _, err := topicOf(v)
	if err != nil {
		return nil, err
	}
	var ev ssehub.Event
	if err := decodeInto(&ev, id, string(tb), v); err != nil {
		return nil, err
	}
	ev.Data, ev.Meta = owned(ev.Data), owned(ev.Meta)
	return &ev, nil
}

// owned returns a copy of b whose capacity is its length, so that no
// receiver of a shared event can append into bytes another one holds.
func owned(b []byte) []byte {
	if b == nil {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// recordInfo returns the topic, Event.Size and time of the event a record
// holds, so retention subtracts from the byte total exactly what commit
// added.
func recordInfo(v []byte) (topic []byte, size int64, ns int64, err error) {
	tb, rest, err := topicOf(v)
	if err != nil {
		return nil, 0, 0, err
	}
	ns, k := binary.Varint(rest)
	if k <= 0 {
		return nil, 0, 0, errCorrupt
	}
	rest = rest[k:]
	n := 64 + len(tb)
	var f []byte
	for range 5 { // type, key, entity, source, meta
		if f, rest, err = field(rest); err != nil {
			return nil, 0, 0, err
		}
		n += len(f)
	}
	return tb, int64(n + len(rest)), ns, nil
}
