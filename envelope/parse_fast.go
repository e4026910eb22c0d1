package envelope

import (
	"bytes"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// decoder is a pooled jsontext.Decoder with the buffer it reads (a
// bytes.Buffer, which the decoder parses in place).
type decoder struct {
	buf   bytes.Buffer
	dec   jsontext.Decoder
	topic string // the last topic decoded: an NDJSON batch repeats it
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// names are the envelope's members, as a publisher spells them.
var names = [...]string{"topic", "event_type", "type", "data", "key", "event_id", "entity", "entity_id", "source", "meta"}

// decodeFast decodes the envelope the way the publish struct's unmarshal
// does, token by token with no reflection, for the envelopes publishers
// send: an object whose members are spelled as in names, each at most
// once, the string members strings. It reports false for anything else
// (another spelling, a repeated or unknown member, a null or a number
// where a string goes, any syntax error), which decodeSlow then decodes
// or rejects exactly as before.
func decodeFast(b []byte, env *publish) bool {
	d := decoders.Get().(*decoder)
	defer decoders.Put(d)
	if len(b) > 64<<10 {
		return false // keep pooled buffers small; large ones are rare
	}
	d.buf.Reset()
	d.buf.Write(b)
	d.dec.Reset(&d.buf, decodeOptions)
	if d.dec.PeekKind() != '{' {
		return false
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return false
	}
	var seen uint16
	for d.dec.PeekKind() == '"' {
		name, err := d.dec.ReadValue() // the quoted name, valid until the next read
		if err != nil {
			return false
		}
		i := member(name)
		if i < 0 || seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		switch i {
		case 3, 8, 9: // data, source, meta: the JSON text
			v, err := d.dec.ReadValue()
			if err != nil {
				return false
			}
			raw := jsontext.Value(bytes.Clone(v))
			switch i {
			case 3:
				env.Data = raw
			case 8:
				env.Source = raw
			default:
				env.Meta = raw
			}
		case 0: // topic
			if d.dec.PeekKind() != '"' {
				return false
			}
			v, err := d.dec.ReadValue()
			if err != nil {
				return false
			}
			// Taken as it is only without escapes and as valid UTF-8, where
			// the quoted text is the string.
			t := v[1 : len(v)-1]
			if bytes.IndexByte(t, '\\') >= 0 || !utf8.Valid(t) {
				return false
			}
			if string(t) != d.topic {
				d.topic = string(t)
			}
			env.Topic = d.topic
		default:
			if d.dec.PeekKind() != '"' {
				return false
			}
			tok, err := d.dec.ReadToken()
			if err != nil {
				return false
			}
			s := tok.String()
			switch i {
			case 1:
				env.EventType = s
			case 2:
				env.Type = s
			case 4:
				env.Key = s
			case 5:
				env.EventID = s
			case 6:
				env.Entity = s
			default:
				env.EntityID = s
			}
		}
	}
	if _, err := d.dec.ReadToken(); err != nil { // '}'
		return false
	}
	// Nothing may follow the object but white space.
	_, err := d.dec.ReadToken()
	return err == io.EOF
}

// member returns the index in names of a quoted member name spelled
// exactly so, with no escapes, or -1.
func member(quoted []byte) int {
	if len(quoted) < 2 {
		return -1
	}
	n := quoted[1 : len(quoted)-1]
	for i, s := range names {
		if string(n) == s {
			return i
		}
	}
	return -1
}
