package pebble

import (
	"encoding/binary"
)

// The store keeps everything in one pebble keyspace, each kind of key
// under its own one-byte prefix:
//
//	'e' id (8 bytes big-endian)            -> the event record (codec.go)
//	'i' topic 0x00 id (8 bytes big-endian) -> empty: the per-topic index
//	't' topic                              -> retained count and last id (8 + 8 bytes)
//	'm' name                               -> head, count, bytes, first, epoch, schema
//	'd' topic 0x00 key                     -> first id and time of an idempotency key
//	'k' uvarint(len(bucket)) bucket key    -> the hub's own state (KV)
//
// Topics never contain a NUL byte (Append refuses them), so an index key
// sorts by topic, then id, and a prefix scan of 'i' topic 0x00 is exactly
// that topic's entries.
const (
	prefixEvent  = 'e'
	prefixIndex  = 'i'
	prefixTopic  = 't'
	prefixMeta   = 'm'
	prefixDedupe = 'd'
	prefixKV     = 'k'
)

var (
	keyHead   = []byte("mhead")
	keyCount  = []byte("mcount")
	keyBytes  = []byte("mbytes")
	keyFirst  = []byte("mfirst")
	keyEpoch  = []byte("mepoch")
	keySchema = []byte("mschema")
)

// schema is the layout version stored under keySchema.
const schema = 1

func eventKey(id uint64) []byte {
	return appendEventKey(make([]byte, 0, 9), id)
}

func appendEventKey(dst []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefixEvent), id)
}

// eventID returns the id of an event key.
func eventID(k []byte) (uint64, bool) {
	if len(k) != 9 || k[0] != prefixEvent {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), true
}

func appendIndexKey(dst []byte, topic string, id uint64) []byte {
	dst = append(append(append(dst, prefixIndex), topic...), 0)
	return binary.BigEndian.AppendUint64(dst, id)
}

func indexKey(topic string, id uint64) []byte {
	return appendIndexKey(make([]byte, 0, len(topic)+10), topic, id)
}

// indexPrefix is 'i' topic 0x00: every index key of topic starts with it.
func indexPrefix(topic string) []byte {
	return append(append(append(make([]byte, 0, len(topic)+2), prefixIndex), topic...), 0)
}

func topicKey(topic string) []byte {
	return append(append(make([]byte, 0, len(topic)+1), prefixTopic), topic...)
}

func dedupeKey(dk string) []byte {
	return append(append(make([]byte, 0, len(dk)+1), prefixDedupe), dk...)
}

// kvPrefix is the prefix of every key of bucket; the bucket's length comes
// first, so no bucket's keys run into another's.
func kvPrefix(bucket string) []byte {
	b := binary.AppendUvarint(append(make([]byte, 0, len(bucket)+4), prefixKV), uint64(len(bucket)))
	return append(b, bucket...)
}

// prefixEnd returns the smallest key greater than every key starting with
// p (nil when there is none).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func u64(v []byte) (uint64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

func itob(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)
}

func topicValue(events int64, last uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(events))
	binary.BigEndian.PutUint64(b[8:], last)
	return b
}

func parseTopicValue(v []byte) (int64, uint64, bool) {
	if len(v) != 16 {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), binary.BigEndian.Uint64(v[8:]), true
}

func dedupeValue(e dedupeEntry) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, e.id)
	binary.BigEndian.PutUint64(b[8:], uint64(e.at))
	return b
}
