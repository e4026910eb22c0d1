package mercure

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/ssehub/ssehub"
)

// PublicPrefix and PrivatePrefix are the ssehub topic prefixes Mercure
// topics map onto: a public update is stored on PublicPrefix+encoding of
// its canonical topic, a private one on PrivatePrefix+encoding. The two
// never overlap ("mercure." is not a prefix of "mercure_private."), so a
// stream or token scope can take public updates without private ones.
const (
	PublicPrefix  = "mercure."
	PrivatePrefix = "mercure_private."
)

// hashedMark starts the encoding of a topic too long to be spelled out: it
// cannot occur in a spelled-out encoding, where '_' is always followed by
// two hex digits.
const hashedMark = "__"

// TopicFor returns the ssehub topic a Mercure topic (an IRI, or any
// string) maps onto. The encoding keeps ASCII letters, digits and '-' and
// writes every other byte as '_' and two upper-case hex digits, so
// "https://example.com/books/1" becomes
// "mercure.https_3A_2F_2Fexample_2Ecom_2Fbooks_2F1". It is injective, and
// reversible with IRIOf. When that does not fit in ssehub.MaxTopicLen, the
// topic is "__" and the hex SHA-256 of the IRI instead: not reversible, but
// the update keeps its exact topics beside it (see the format), so Mercure
// matching is still exact.
func TopicFor(iri string, private bool) string {
	prefix := PublicPrefix
	if private {
		prefix = PrivatePrefix
	}
	var b strings.Builder
	b.Grow(len(prefix) + len(iri)*2)
	b.WriteString(prefix)
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(iri); i++ {
		c := iri[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
		if b.Len() > ssehub.MaxTopicLen {
			break
		}
	}
	if iri == "" || b.Len() > ssehub.MaxTopicLen {
		sum := sha256.Sum256([]byte(iri))
		return prefix + hashedMark + hex.EncodeToString(sum[:])
	}
	return b.String()
}

// IRIOf reverses TopicFor: the Mercure topic an ssehub topic stands for
// and whether updates on it are private. ok is false for a topic outside
// the two prefixes, for a hashed one (whose IRI only its events carry) and
// for an encoding that does not decode to valid text.
func IRIOf(topic string) (iri string, private, ok bool) {
	var enc string
	switch {
	case strings.HasPrefix(topic, PublicPrefix):
		enc = topic[len(PublicPrefix):]
	case strings.HasPrefix(topic, PrivatePrefix):
		enc, private = topic[len(PrivatePrefix):], true
	default:
		return "", false, false
	}
	if enc == "" || strings.HasPrefix(enc, hashedMark) {
		return "", private, false
	}
	out := make([]byte, 0, len(enc))
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			out = append(out, c)
		case c == '_' && i+2 < len(enc) && isUpperHex(enc[i+1]) && isUpperHex(enc[i+2]):
			out = append(out, unhex(enc[i+1])<<4|unhex(enc[i+2]))
			i += 2
		default:
			return "", private, false
		}
	}
	s := string(out)
	if !utf8.ValidString(s) || checkText(s) != nil || TopicFor(s, private) != topic {
		return "", private, false
	}
	return s, private, true
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
