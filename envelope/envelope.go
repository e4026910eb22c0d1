// Package envelope owns the JSON envelope of an event: the object a
// publisher may POST (topic, type, data, key, entity, source, meta) and the
// object an envelope-format stream or a JSON history page carries:
//
//	{"id":42,"event_id":"…","event_type":"<topic>","type":"…","entity_id":"…",
//	 "created_at":"…","data":<data>,"source":"…","meta":{…}}
//
// Append encodes without reflection, since every delivered event of an
// envelope stream passes through it once; Parse decodes a publish body.
package envelope

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub"
)

// Append appends the JSON envelope of ev to dst. "type" is present only
// when ev has one; "event_id", "entity_id" and "source" are null when
// empty; "meta" is {} when empty. data is embedded as JSON when it is valid
// JSON, otherwise as a JSON string of its bytes (invalid UTF-8 replaced by
// U+FFFD, as encoding/json does).
func Append(dst []byte, ev *ssehub.Event) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, ev.ID, 10)
	dst = append(dst, `,"event_id":`...)
	dst = appendNullableString(dst, ev.Key)
	dst = append(dst, `,"event_type":`...)
	dst = AppendString(dst, ev.Topic)
	if ev.Type != "" {
		dst = append(dst, `,"type":`...)
		dst = AppendString(dst, ev.Type)
	}
	dst = append(dst, `,"entity_id":`...)
	dst = appendNullableString(dst, ev.Entity)
	dst = append(dst, `,"created_at":"`...)
	dst = ev.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","data":`...)
	if len(ev.Data) > 0 && json.Valid(ev.Data) {
		dst = append(dst, ev.Data...)
	} else {
		dst = AppendString(dst, string(ev.Data))
	}
	dst = append(dst, `,"source":`...)
	dst = appendNullableString(dst, ev.Source)
	dst = append(dst, `,"meta":`...)
	if len(ev.Meta) > 0 {
		dst = append(dst, ev.Meta...)
	} else {
		dst = append(dst, "{}"...)
	}
	return append(dst, '}')
}

func appendNullableString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return AppendString(dst, s)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, replacing invalid UTF-8 with
// U+FFFD like encoding/json does, escaping U+2028 and U+2029, and without
// escaping HTML characters.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
