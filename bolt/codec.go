package bolt

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"

	"github.com/ssehub/ssehub"
)

// An event is stored under its big-endian id as:
//
//	0x00 0x01 crc32c(body, 4 bytes little-endian) body
//
// where body is
//
//	uvarint len(topic) topic  varint unix-nanos
//	uvarint len(type) type    uvarint len(key) key
//	uvarint len(entity) entity uvarint len(source) source
//	uvarint len(meta) meta    data (the rest)
//
// The topic comes first so that a filtered scan skips an event without
// decoding the rest. The checksum lets a read, `ssehub check` and salvage
// tell a damaged record from a good one. Records written before the
// checksum (format 1) are the bare body; their first byte is the topic's
// length, never 0, so the two are told apart.

var errCorrupt = errors.New("bolt: corrupt event record")

const recordHeader = 6

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func itob(id uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return b[:]
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
}

// encodedLen returns the length of ev's record.
func encodedLen(ev *ssehub.Event) int {
	n := recordHeader + binary.MaxVarintLen64 + len(ev.Data)
	for _, f := range []int{len(ev.Topic), len(ev.Type), len(ev.Key), len(ev.Entity), len(ev.Source), len(ev.Meta)} {
		n += uvarintLen(f) + f
	}
	return n
}

func encodeEvent(dst []byte, ev *ssehub.Event) []byte {
	start := len(dst)
	dst = append(dst, 0, 1, 0, 0, 0, 0)
	dst = appendString(dst, ev.Topic)
	dst = binary.AppendVarint(dst, ev.Time.UnixNano())
	dst = appendString(dst, ev.Type)
	dst = appendString(dst, ev.Key)
	dst = appendString(dst, ev.Entity)
	dst = appendString(dst, ev.Source)
	dst = binary.AppendUvarint(dst, uint64(len(ev.Meta)))
	dst = append(dst, ev.Meta...)
	dst = append(dst, ev.Data...)
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
	return v, nil
}

func field(v []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return nil, nil, errCorrupt
	}
	return v[k : k+int(n)], v[k+int(n):], nil
}

// topicOf returns the topic bytes of an encoded event without copying or
// checking the checksum (a scan skips most records), and the rest of the body.
func topicOf(v []byte) ([]byte, []byte, error) {
	b, err := body(v, false)
	if err != nil {
		return nil, nil, err
	}
	return field(b)
}

// decodeInto fills ev from a record whose topic was read by topicOf.
// Strings are copied; Data and Meta alias the record, which is only valid
// inside the read transaction. The checksum is verified first.
func decodeInto(ev *ssehub.Event, id uint64, topic string, v []byte) error {
	b, err := body(v, true)
	if err != nil {
		return err
	}
	_, rest, err := field(b)
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
// added. It does not verify the checksum: retention must be able to remove
// a damaged record.
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
