package sse

import (
	"testing"
)

// interesting bytes for UTF-8: the edges of every range the decoder checks.
var utf8Alphabet = []byte{
	0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
	0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
}

// forAllStrings calls f with every string of up to n bytes from utf8Alphabet.
func forAllStrings(n int, f func([]byte)) {
	var rec func(prefix []byte)
	rec = func(prefix []byte) {
		f(prefix)
		if len(prefix) == n {
			return
		}
		for _, b := range utf8Alphabet {
			rec(append(prefix, b))
		}
	}
	rec(make([]byte, 0, n))
}

func TestUTF8MatchesWHATWGDecoder(t *testing.T) {
	forAllStrings(4, func(s []byte) {
		// A leading "x" keeps the reference from taking EF BB BF as a BOM.
		want := refUTF8Decode(append([]byte("x"), s...))[1:]
		if got := string(appendUTF8(nil, s)); got != want {
			t.Fatalf("appendUTF8(% x) = %q, want %q", s, got, want)
		}
		if n := utf8Size(s); n != len(want) {
			t.Fatalf("utf8Size(% x) = %d, want %d", s, n, len(want))
		}
		// Streaming with incompleteTail held back gives the same result
		// wherever the bytes are split.
		for i := 0; i <= len(s); i++ {
			k := incompleteTail(s[:i])
			got := appendUTF8(nil, s[:i-k])
			got = appendUTF8(got, s[i-k:])
			if string(got) != want {
				t.Fatalf("split % x | % x (held %d): %q, want %q", s[:i], s[i:], k, got, want)
			}
		}
	})
}

func TestIncompleteTail(t *testing.T) {
	cases := map[string]int{
		"":                 0,
		"a":                0,
		"\xC3":             1,
		"\xC3\xA9":         0,
		"\xE2\x82":         2,
		"\xE2":             1,
		"\xE2\x82\xAC":     0,
		"\xF0\x9F\x98":     3,
		"\xF0\x9F":         2,
		"\xF0":             1,
		"\xE0\x80":         0, // not a valid prefix: E0 needs A0..BF
		"\xED\xA0":         0, // surrogate
		"\xF4\x90":         0, // above U+10FFFF
		"\x80":             0,
		"\xC0":             0,
		"\xF5":             0,
		"a\xF0\x9F\x98":    3,
		"\xF0\x9F\x98\x80": 0,
	}
	for s, want := range cases {
		if got := incompleteTail([]byte(s)); got != want {
			t.Errorf("incompleteTail(% x) = %d, want %d", s, got, want)
		}
	}
}
