package hub

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/sse"
)

// Format is how an event is rendered on an SSE stream.
type Format uint8

// The output formats. Each event is encoded at most once per format and the
// bytes are shared by every subscriber using that format.
const (
	// FormatEnvelope sends "event: message" with the JSON envelope as data
	// (Inboxclaw's format).
	FormatEnvelope Format = iota
	// FormatRaw sends the event's type as the SSE event name and its data as is.
	FormatRaw
	numFormats
)

// ParseFormat maps a config or query value to a Format.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "envelope":
		return FormatEnvelope, nil
	case "raw":
		return FormatRaw, nil
	}
	return 0, fmt.Errorf("unknown format %q (want envelope or raw)", s)
}

// String returns the format's config name.
func (f Format) String() string {
	if f == FormatRaw {
		return "raw"
	}
	return "envelope"
}

// AppendSSE appends the SSE wire form of ev in format f to dst. scratch is
// reusable working space; the possibly grown scratch is returned.
func AppendSSE(dst, scratch []byte, ev *ssehub.Event, f Format) (out, scratchOut []byte) {
	var idBuf [20]byte
	id := strconv.AppendUint(idBuf[:0], ev.ID, 10)
	var e sse.Event
	e.ID = string(id)
	if f == FormatRaw {
		e.Type = ev.Type
		e.Data = ev.Data
	} else {
		scratch = AppendEnvelope(scratch[:0], ev)
		e.Type = "message"
		e.Data = scratch
	}
	out, err := sse.AppendEvent(dst, &e)
	if err != nil {
		// Types are validated at publish and ids are digits: unreachable
		// unless a store returns corrupt data, so fall back to no type.
		e.Type = ""
		out, _ = sse.AppendEvent(dst, &e)
	}
	return out, scratch
}

// AppendEnvelope appends the JSON envelope of ev to dst:
//
//	{"id":42,"event_id":"…","event_type":"<topic>","type":"…","entity_id":…,
//	 "created_at":"…","data":<data>,"source":…,"meta":{…}}
//
// data is embedded as JSON when it is valid JSON, otherwise as a JSON string.
func AppendEnvelope(dst []byte, ev *ssehub.Event) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, ev.ID, 10)
	dst = append(dst, `,"event_id":`...)
	dst = appendNullableString(dst, ev.Key)
	dst = append(dst, `,"event_type":`...)
	dst = appendJSONString(dst, ev.Topic)
	if ev.Type != "" {
		dst = append(dst, `,"type":`...)
		dst = appendJSONString(dst, ev.Type)
	}
	dst = append(dst, `,"entity_id":`...)
	dst = appendNullableString(dst, ev.Entity)
	dst = append(dst, `,"created_at":"`...)
	dst = ev.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","data":`...)
	if len(ev.Data) > 0 && json.Valid(ev.Data) {
		dst = append(dst, ev.Data...)
	} else {
		dst = appendJSONString(dst, string(ev.Data))
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
	return appendJSONString(dst, s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, replacing invalid UTF-8 with
// U+FFFD like encoding/json does, without escaping HTML characters.
func appendJSONString(dst []byte, s string) []byte {
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
