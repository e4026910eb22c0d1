package bolt

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/ssehub/ssehub"
)

// An event is stored under its big-endian id as:
//
//	uvarint len(topic) topic  varint unix-nanos
//	uvarint len(type) type    uvarint len(key) key
//	uvarint len(entity) entity uvarint len(source) source
//	uvarint len(meta) meta    data (the rest)
//
// The topic comes first so that a filtered read skips an event without
// decoding the rest.

var errCorrupt = errors.New("bolt: corrupt event record")

func itob(id uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return b[:]
}

func appendString(dst []byte, s []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func encodeEvent(dst []byte, ev *ssehub.Event) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ev.Topic)))
	dst = append(dst, ev.Topic...)
	dst = binary.AppendVarint(dst, ev.Time.UnixNano())
	dst = appendString(dst, []byte(ev.Type))
	dst = appendString(dst, []byte(ev.Key))
	dst = appendString(dst, []byte(ev.Entity))
	dst = appendString(dst, []byte(ev.Source))
	dst = appendString(dst, ev.Meta)
	return append(dst, ev.Data...)
}

// topicOf returns the topic bytes of an encoded event without copying.
func topicOf(v []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return nil, nil, errCorrupt
	}
	return v[k : k+int(n)], v[k+int(n):], nil
}

func field(v []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return nil, nil, errCorrupt
	}
	return v[k : k+int(n)], v[k+int(n):], nil
}

// decodeInto fills ev from an encoded record. Strings are copied; Data and
// Meta alias v, which is only valid inside the read transaction.
func decodeInto(ev *ssehub.Event, id uint64, topic string, rest []byte) error {
	ns, k := binary.Varint(rest)
	if k <= 0 {
		return errCorrupt
	}
	rest = rest[k:]
	var typ, key, entity, source, meta []byte
	var err error
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

// recordSize returns Event.Size of the event an encoded record holds, so
// retention subtracts from the byte total exactly what commit added.
func recordSize(v []byte) (int64, error) {
	_, rest, err := topicOf(v)
	if err != nil {
		return 0, err
	}
	_, k := binary.Varint(rest)
	if k <= 0 {
		return 0, errCorrupt
	}
	rest = rest[k:]
	n := 64
	var f []byte
	for range 5 { // type, key, entity, source, meta
		if f, rest, err = field(rest); err != nil {
			return 0, err
		}
		n += len(f)
	}
	tlen, _ := binary.Uvarint(v)
	return int64(n + int(tlen) + len(rest)), nil
}
