// Package envelope owns the JSON envelope of an event: the object a
// publisher may POST (topic, type, data, key, entity, source, meta, or
// Inboxclaw's own names event_type, event_id, entity_id) and the object an
// envelope-format stream, a pull sink or a JSON history page carries:
//
//	{"id":42,"event_id":"…","event_type":"<topic>","type":"…","entity_id":"…",
//	 "created_at":"…","data":<data>,"source":…,"meta":{…}}
//
// Append encodes without reflection, since every delivered event of an
// envelope stream passes through it once; AppendStyle encodes Inboxclaw's
// variant (see [Inboxclaw]); Parse decodes a publish body.
//
// An event's source is a string or, when a publisher sent a JSON object
// (Inboxclaw's {"id":1,"name":"web_frontend"}), that object's JSON text:
// see [SourceObject]. An event's key may carry the source it is
// deduplicated with (see [ScopedKey]); the envelope's event_id is always
// the publisher's own key.
package envelope

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub"
)

// Style selects how an envelope is written. The zero Style is ssehub's
// compact envelope.
type Style struct {
	// Spaced writes ": " and ", " between the envelope's names, values and
	// members, as Python's json.dumps does (Inboxclaw's bytes). It applies
	// to the envelope, source and meta, never to data: the payload is
	// written as it was published.
	Spaced bool
	// PythonTime writes created_at as Inboxclaw shows it, in whole seconds
	// with a numeric UTC offset: "2024-03-15T10:00:00+00:00". Otherwise it
	// is RFC 3339 in UTC with up to nanoseconds: "2024-03-15T10:00:00.123Z".
	PythonTime bool
	// SourceObject writes a string source as the object
	// {"id":null,"name":"<source>"}, so that source is always an object (or
	// null when the event has none), as Inboxclaw's envelope has it.
	SourceObject bool
}

// Inboxclaw is the envelope as Inboxclaw's SSE sink writes it, byte for
// byte: Python's separators, created_at like "2024-03-15T10:00:00+00:00",
// source an object.
var Inboxclaw = Style{Spaced: true, PythonTime: true, SourceObject: true}

// InboxclawCompact is Inboxclaw's envelope in a JSON response body (its
// http_pull sink): compact separators, Inboxclaw's created_at and source.
var InboxclawCompact = Style{PythonTime: true, SourceObject: true}

// Append appends the JSON envelope of ev to dst. "type" is present only
// when ev has one; "event_id", "entity_id" and "source" are null when
// empty; "meta" is {} when empty. data is embedded as JSON when it is valid
// JSON, otherwise as a JSON string of its bytes (invalid UTF-8 replaced by
// U+FFFD, as encoding/json does). source is a JSON string, or the object
// the publisher sent (see SourceObject).
func Append(dst []byte, ev *ssehub.Event) []byte { return AppendStyle(dst, ev, Style{}) }

// AppendStyle appends the JSON envelope of ev to dst in style st; see
// Append for the fields.
func AppendStyle(dst []byte, ev *ssehub.Event, st Style) []byte {
	colon, comma := ":", ","
	if st.Spaced {
		colon, comma = ": ", ", "
	}
	field := func(dst []byte, first bool, name string) []byte {
		if !first {
			dst = append(dst, comma...)
		}
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"')
		return append(dst, colon...)
	}
	dst = append(dst, '{')
	dst = field(dst, true, "id")
	dst = strconv.AppendUint(dst, ev.ID, 10)
	dst = field(dst, false, "event_id")
	dst = appendNullableString(dst, EventID(ev.Key))
	dst = field(dst, false, "event_type")
	dst = AppendString(dst, ev.Topic)
	if ev.Type != "" {
		dst = field(dst, false, "type")
		dst = AppendString(dst, ev.Type)
	}
	dst = field(dst, false, "entity_id")
	dst = appendNullableString(dst, ev.Entity)
	dst = field(dst, false, "created_at")
	dst = append(dst, '"')
	if st.PythonTime {
		dst = ev.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05+00:00")
	} else {
		dst = ev.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	dst = append(dst, '"')
	dst = field(dst, false, "data")
	if len(ev.Data) > 0 && json.Valid(ev.Data) {
		// json.Valid takes invalid UTF-8 inside strings, which the
		// envelope must not carry (a subscriber's strict parser refuses
		// it): replaced by U+FFFD, as AppendString does, it stays JSON.
		if utf8.Valid(ev.Data) {
			dst = append(dst, ev.Data...)
		} else {
			dst = append(dst, bytes.ToValidUTF8(ev.Data, []byte("\uFFFD"))...)
		}
	} else {
		dst = AppendString(dst, string(ev.Data))
	}
	dst = field(dst, false, "source")
	switch {
	case ev.Source == "":
		dst = append(dst, "null"...)
	case SourceObject(ev.Source):
		dst = appendJSON(dst, strings.ToValidUTF8(ev.Source, "\uFFFD"), st.Spaced)
	case st.SourceObject:
		dst = append(dst, '{')
		dst = field(dst, true, "id")
		dst = append(dst, "null"...)
		dst = field(dst, false, "name")
		dst = AppendString(dst, ev.Source)
		dst = append(dst, '}')
	default:
		dst = AppendString(dst, ev.Source)
	}
	dst = field(dst, false, "meta")
	if len(ev.Meta) > 0 {
		dst = appendJSON(dst, strings.ToValidUTF8(string(ev.Meta), "\uFFFD"), st.Spaced)
	} else {
		dst = append(dst, "{}"...)
	}
	return append(dst, '}')
}

// SourceObject reports whether an event's source is a JSON object (the
// publisher sent one) rather than a plain name. A plain name never starts
// with '{': publishing refuses such a string.
func SourceObject(source string) bool {
	return len(source) > 1 && source[0] == '{' && json.Valid([]byte(source))
}

// SourceID returns what identifies a source for deduplication: the JSON
// text of an object source's "id" member (its "name" when it has no id),
// or a plain source as it is.
func SourceID(source string) string {
	if !SourceObject(source) {
		return source
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(source), &m) != nil {
		return source
	}
	if v, ok := m["id"]; ok && string(v) != "null" {
		return string(v)
	}
	if v, ok := m["name"]; ok {
		return string(v)
	}
	return source
}

// keySep separates the source from the publisher's key in a scoped key. A
// publisher cannot send it: publishing refuses control characters in keys.
const keySep = "\x1f"

// ScopedKey returns the key an event is stored with when it is
// deduplicated on (source, event_id), as Inboxclaw does, instead of on its
// key alone: the source's id (see SourceID), a separator no key contains,
// and the key. The store still deduplicates per topic. An empty key stays
// empty (no deduplication).
func ScopedKey(source, key string) string {
	if key == "" {
		return ""
	}
	return SourceID(source) + keySep + key
}

// partSep separates a publisher's key from the part number PartKey adds.
// No key contains it: ingest and publish refuse control characters in keys.
const partSep = "\x1e"

// PartKey returns the key of part i of a request that stores several
// events under one key (an Arrow stream of several record batches): the
// key, a separator no key contains, and i. A key "k#1" that another
// request sends can then never be mistaken for part 1 of key "k".
func PartKey(key string, i int) string {
	if key == "" {
		return ""
	}
	return key + partSep + strconv.Itoa(i)
}

// EventID returns the publisher's own key of a stored key, which ScopedKey
// may have prefixed with its source and PartKey suffixed with a part.
func EventID(key string) string {
	if i := strings.LastIndex(key, keySep); i >= 0 {
		key = key[i+1:]
	}
	if i := strings.Index(key, partSep); i >= 0 {
		key = key[:i]
	}
	return key
}

// appendJSON appends the valid JSON text s, with Python's separators when
// spaced: a space after every ':' and ',' outside strings. Compact JSON
// comes out as json.dumps writes it; s is written as is otherwise.
func appendJSON(dst []byte, s string, spaced bool) []byte {
	if !spaced {
		return append(dst, s...)
	}
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		dst = append(dst, c)
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ':' || c == ',':
			if i+1 < len(s) && s[i+1] != ' ' {
				dst = append(dst, ' ')
			}
		}
	}
	return dst
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
