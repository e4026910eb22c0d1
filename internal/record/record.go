// Package record is the body of an event as the embedded stores (bolt,
// pebble) keep it:
//
//	uvarint len(topic) topic   varint unix-nanos
//	uvarint len(type) type     uvarint len(key) key
//	uvarint len(entity) entity uvarint len(source) source
//	uvarint len(meta) meta     data (the rest)
//
// The topic comes first so that a filtered scan skips an event without
// decoding the rest. Each store frames the body its own way (bolt with a
// checksum, pebble with a format byte, as pebble checksums its blocks).
package record

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/ssehub/ssehub"
)

// ErrCorrupt is returned for a body that does not decode.
var ErrCorrupt = errors.New("corrupt event record")

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
}

// Len returns the length of ev's body, up to binary.MaxVarintLen64 bytes
// more (the time's varint is not measured).
func Len(ev *ssehub.Event) int {
	n := binary.MaxVarintLen64 + len(ev.Data)
	for _, f := range []int{len(ev.Topic), len(ev.Type), len(ev.Key), len(ev.Entity), len(ev.Source), len(ev.Meta)} {
		n += uvarintLen(f) + f
	}
	return n
}

// Append appends ev's body to dst.
func Append(dst []byte, ev *ssehub.Event) []byte {
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

// field splits off one length-prefixed field.
func field(v []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return nil, nil, ErrCorrupt
	}
	return v[k : k+int(n)], v[k+int(n):], nil
}

// Topic returns the topic bytes of a body without copying, and the rest
// of the body after it.
func Topic(body []byte) (topic, rest []byte, err error) { return field(body) }

// Decode fills ev from a body whose topic is topic (read by Topic).
// Strings are copied; Data and Meta alias body.
func Decode(ev *ssehub.Event, id uint64, topic string, body []byte) error {
	_, rest, err := field(body)
	if err != nil {
		return err
	}
	ns, k := binary.Varint(rest)
	if k <= 0 {
		return ErrCorrupt
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

// DecodeOwned decodes a body into an event that owns its bytes.
func DecodeOwned(id uint64, body []byte) (*ssehub.Event, error) {
	tb, _, err := field(body)
	if err != nil {
		return nil, err
	}
	var ev ssehub.Event
	if err := Decode(&ev, id, string(tb), body); err != nil {
		return nil, err
	}
	ev.Data, ev.Meta = Owned(ev.Data), Owned(ev.Meta)
	return &ev, nil
}

// Owned returns a copy of b whose capacity is its length, so that no
// receiver of a shared event can append into bytes another one holds.
func Owned(b []byte) []byte {
	if b == nil {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// Info returns the topic, Event.Size and time of the event a body holds,
// so retention subtracts from a store's byte total exactly what its
// commit added.
func Info(body []byte) (topic []byte, size int64, ns int64, err error) {
	tb, rest, err := field(body)
	if err != nil {
		return nil, 0, 0, err
	}
	ns, k := binary.Varint(rest)
	if k <= 0 {
		return nil, 0, 0, ErrCorrupt
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
