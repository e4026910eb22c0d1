package durable

import (
	"fmt"
	"strings"

	"github.com/ssehub/ssehub"
)

// TopicPrefix is the first token of the topic of every Durable Stream: the
// stream "chat/room-1" is the topic "ds.chat.room-1". No other feature
// publishes under it unless told to.
const TopicPrefix = "ds"

// TopicFor maps a stream name (the path after /v1/stream/) onto its ssehub
// topic, one to one, so two names never share a topic:
//
//   - each '/'-separated segment of the name becomes one token of the topic
//     after TopicPrefix;
//   - ASCII letters, digits and '-' are kept; every other byte, '_' and '.'
//     included, becomes '_' and its two upper-case hex digits ("a.b" →
//     "a_2Eb", "a_b" → "a_5Fb");
//   - an empty segment ("a//b", a trailing '/') becomes the token "_", which
//     no escape produces.
//
// A name whose topic would be longer than ssehub.MaxTopicLen (255 bytes)
// is refused: each escaped byte takes three.
func TopicFor(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("the stream name is empty")
	}
	var b strings.Builder
	b.Grow(len(TopicPrefix) + 1 + len(name))
	b.WriteString(TopicPrefix)
	b.WriteByte('.')
	segStart := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '/' {
			if segStart {
				b.WriteByte('_')
			}
			b.WriteByte('.')
			segStart = true
			continue
		}
		segStart = false
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			b.WriteByte(c)
		default:
			const hex = "0123456789ABCDEF"
			b.WriteByte('_')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	if segStart {
		b.WriteByte('_')
	}
	t := b.String()
	if len(t) > ssehub.MaxTopicLen {
		return "", fmt.Errorf("the stream name is too long: its topic %q… would be %d bytes, more than %d (letters, digits and '-' take one byte, other characters three)", t[:32], len(t), ssehub.MaxTopicLen)
	}
	if err := ssehub.ValidateTopic(t); err != nil { // cannot happen; keeps the mapping honest
		return "", err
	}
	return t, nil
}

// NameFor is the inverse of TopicFor: the stream name of a topic under
// TopicPrefix, or false for any other topic.
func NameFor(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, TopicPrefix+".")
	if !ok || rest == "" {
		return "", false
	}
	var b strings.Builder
	toks := strings.Split(rest, ".")
	for i, tok := range toks {
		if i > 0 {
			b.WriteByte('/')
		}
		if tok == "_" {
			continue
		}
		for j := 0; j < len(tok); j++ {
			c := tok[j]
			if c != '_' {
				b.WriteByte(c)
				continue
			}
			if j+3 > len(tok) {
				return "", false
			}
			v, ok := unhex(tok[j+1 : j+3])
			if !ok {
				return "", false
			}
			b.WriteByte(v)
			j += 2
		}
	}
	return b.String(), true
}

func unhex(s string) (byte, bool) {
	if len(s) != 2 {
		return 0, false
	}
	var v byte
	for i := 0; i < 2; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}
