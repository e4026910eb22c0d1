package sse

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds a deliberately naive decoder written straight from the
// standard's prose, used to cross-check Decoder: it decodes the whole stream
// to a string with a byte-at-a-time WHATWG UTF-8 decoder, splits it into
// lines and applies the field rules with string functions.

// refUTF8Decode is the WHATWG Encoding standard's "UTF-8 decode": strip one
// BOM, then run the UTF-8 decoder with replacement, byte by byte.
func refUTF8Decode(in []byte) string {
	if len(in) >= 3 && in[0] == 0xEF && in[1] == 0xBB && in[2] == 0xBF {
		in = in[3:]
	}
	var out strings.Builder
	var cp rune
	needed, seen := 0, 0
	lower, upper := byte(0x80), byte(0xBF)
	for i := 0; i < len(in); i++ {
		b := in[i]
		if needed == 0 {
			switch {
			case b <= 0x7F:
				out.WriteByte(b)
			case b >= 0xC2 && b <= 0xDF:
				needed, cp = 1, rune(b&0x1F)
			case b >= 0xE0 && b <= 0xEF:
				if b == 0xE0 {
					lower = 0xA0
				}
				if b == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, rune(b&0xF)
			case b >= 0xF0 && b <= 0xF4:
				if b == 0xF0 {
					lower = 0x90
				}
				if b == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, rune(b&0x7)
			default:
				out.WriteRune(utf8.RuneError)
			}
			continue
		}
		if b < lower || b > upper {
			cp, needed, seen = 0, 0, 0
			lower, upper = 0x80, 0xBF
			out.WriteRune(utf8.RuneError)
			i-- // prepend b to the stream
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(b&0x3F)
		seen++
		if seen == needed {
			out.WriteRune(cp)
			cp, needed, seen = 0, 0, 0
		}
	}
	if needed != 0 {
		out.WriteRune(utf8.RuneError)
	}
	return out.String()
}

// refResult is everything a stream tells a client.
type refResult struct {
	Events   []Event
	LastID   string
	Retry    time.Duration
	RetrySet bool
}

// refDecode interprets a whole stream as the standard's section 9.2.6 says.
func refDecode(in []byte) refResult {
	s := refUTF8Decode(in)
	var res refResult
	var data, typ, idBuf strings.Builder
	var blockRetry time.Duration
	blockHasRetry := false
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			break // an unterminated line at the end is discarded
		}
		line := s[:i]
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			s = s[i+2:]
		} else {
			s = s[i+1:]
		}
		if line == "" {
			res.LastID = idBuf.String()
			if data.Len() == 0 {
				typ.Reset()
				blockHasRetry = false
				continue
			}
			d := strings.TrimSuffix(data.String(), "\n")
			ev := Event{ID: res.LastID, Type: typ.String(), Data: []byte(d)}
			if ev.Type == "" {
				ev.Type = "message"
			}
			if blockHasRetry {
				ev.Retry = blockRetry
			}
			res.Events = append(res.Events, ev)
			data.Reset()
			typ.Reset()
			blockHasRetry = false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		name, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch name {
		case "event":
			typ.Reset()
			typ.WriteString(value)
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "id":
			if !strings.Contains(value, "\x00") {
				idBuf.Reset()
				idBuf.WriteString(value)
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				r := time.Duration(math.MaxInt64)
				if len(value) < 16 || len(strings.TrimLeft(value, "0")) < 16 {
					var ms int64
					for _, c := range value {
						ms = ms*10 + int64(c-'0')
					}
					if ms <= math.MaxInt64/int64(time.Millisecond) {
						r = time.Duration(ms) * time.Millisecond
					}
				}
				res.Retry, res.RetrySet = r, true
				blockRetry, blockHasRetry = r, true
			}
		}
	}
	return res
}
