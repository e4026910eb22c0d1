package sse

import "unicode/utf8"

// appendUTF8 appends src to dst, replacing invalid UTF-8 exactly as the
// WHATWG Encoding standard's UTF-8 decoder (with replacement) does: each
// maximal subpart of an ill-formed sequence becomes one U+FFFD, and a
// sequence truncated by the end of src becomes one U+FFFD. src must be a
// whole unit (a line, or a part of a line that does not end inside a
// sequence that later bytes could complete; see incompleteTail).
func appendUTF8(dst, src []byte) []byte {
	if utf8.Valid(src) {
		return append(dst, src...)
	}
	return appendUTF8Slow(dst, src)
}

func appendUTF8Slow(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		b := src[i]
		if b < utf8.RuneSelf {
			dst = append(dst, b)
			i++
			continue
		}
		n := validPrefix(src[i:])
		if n > 0 && n == seqLen(b) {
			dst = append(dst, src[i:i+n]...)
			i += n
			continue
		}
		// An invalid lead byte, or a maximal subpart (a valid but
		// incomplete prefix): one replacement character for it.
		dst = utf8.AppendRune(dst, utf8.RuneError)
		if n == 0 {
			n = 1
		}
		i += n
	}
	return dst
}

// seqLen returns the length of the sequence lead byte b starts, or 0 if b
// is not a valid lead byte.
func seqLen(b byte) int {
	switch {
	case b < 0x80:
		return 1
	case b >= 0xC2 && b <= 0xDF:
		return 2
	case b >= 0xE0 && b <= 0xEF:
		return 3
	case b >= 0xF0 && b <= 0xF4:
		return 4
	}
	return 0
}

// validPrefix returns how many bytes at the start of s (which starts with a
// non-ASCII byte) form a valid prefix of a UTF-8 sequence under the WHATWG
// decoder's bounds: 0 for an invalid lead byte, up to the full sequence
// length.
func validPrefix(s []byte) int {
	b := s[0]
	need := seqLen(b)
	if need == 0 {
		return 0
	}
	lower, upper := byte(0x80), byte(0xBF)
	switch b {
	case 0xE0:
		lower = 0xA0
	case 0xED:
		upper = 0x9F
	case 0xF0:
		lower = 0x90
	case 0xF4:
		upper = 0x8F
	}
	n := 1
	for n < need && n < len(s) {
		c := s[n]
		if c < lower || c > upper {
			break
		}
		lower, upper = 0x80, 0xBF
		n++
	}
	return n
}

// incompleteTail returns the number of bytes at the end of s that form a
// valid but incomplete UTF-8 sequence (0 to 3), which later bytes could
// complete. Holding them back keeps a character split across reads intact.
func incompleteTail(s []byte) int {
	for k := 1; k <= 3 && k <= len(s); k++ {
		b := s[len(s)-k]
		if b < 0x80 {
			return 0
		}
		if b < 0xC0 {
			continue // continuation byte: look further back
		}
		need := seqLen(b)
		if need > k && validPrefix(s[len(s)-k:]) == k {
			return k
		}
		return 0
	}
	return 0
}

// utf8Size returns len(appendUTF8(nil, src)) without building it.
func utf8Size(src []byte) int {
	n := 0
	for i := 0; i < len(src); {
		b := src[i]
		if b < utf8.RuneSelf {
			n++
			i++
			continue
		}
		k := validPrefix(src[i:])
		if k > 0 && k == seqLen(b) {
			n += k
			i += k
			continue
		}
		n += utf8.RuneLen(utf8.RuneError)
		i += max(k, 1)
	}
	return n
}
