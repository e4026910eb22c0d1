package ssehub

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxTopicLen is the longest topic (and pattern) accepted, in bytes.
const MaxTopicLen = 255

// ErrInvalidTopic is wrapped by every topic and pattern validation error.
var ErrInvalidTopic = errors.New("invalid topic")

// ValidateTopic reports whether t is a valid topic: dot-separated, non-empty
// tokens of ASCII letters, digits, '_' and '-', at most MaxTopicLen bytes.
func ValidateTopic(t string) error {
	if t == "" {
		return fmt.Errorf("%w: empty", ErrInvalidTopic)
	}
	if len(t) > MaxTopicLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidTopic, MaxTopicLen)
	}
	tokenStart := 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '.':
			if i == tokenStart {
				return fmt.Errorf("%w: %q has an empty token", ErrInvalidTopic, t)
			}
			tokenStart = i + 1
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			// The character, not its first byte: "orders.ｘ" holds 'ｘ'.
			ch := fmt.Sprintf("'\\x%02x'", c)
			if r, size := utf8.DecodeRuneInString(t[i:]); r != utf8.RuneError || size > 1 {
				ch = strconv.QuoteRune(r)
			}
			return fmt.Errorf("%w: %q contains %s (allowed: letters, digits, '_', '-', '.')", ErrInvalidTopic, t, ch)
		}
	}
	if tokenStart == len(t) {
		return fmt.Errorf("%w: %q has an empty token", ErrInvalidTopic, t)
	}
	return nil
}

// Pattern selects topics: "*" matches every topic, "prefix.*" every topic
// that starts with "prefix.", anything else exactly one topic.
type Pattern struct {
	text   string
	prefix string // "prefix." for a prefix pattern; "" for "*"
	exact  bool
}

// ParsePattern validates and parses a pattern.
func ParsePattern(s string) (Pattern, error) {
	if s == "*" {
		return Pattern{text: s}, nil
	}
	if strings.HasSuffix(s, ".*") {
		base := s[:len(s)-2]
		if err := ValidateTopic(base); err != nil {
			return Pattern{}, fmt.Errorf("pattern %q: %w", s, err)
		}
		return Pattern{text: s, prefix: base + "."}, nil
	}
	if err := ValidateTopic(s); err != nil {
		return Pattern{}, fmt.Errorf("pattern %q: %w", s, err)
	}
	return Pattern{text: s, exact: true}, nil
}

// MustPattern is ParsePattern for patterns known to be valid; it panics otherwise.
func MustPattern(s string) Pattern {
	p, err := ParsePattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.text }

// Exact reports whether p matches exactly one topic (then String is that topic).
func (p Pattern) Exact() bool { return p.exact }

// isAll reports whether p is "*".
func (p Pattern) isAll() bool { return !p.exact && p.prefix == "" }

// Match reports whether topic is selected by p. No pattern matches a
// system topic (see SysPrefix).
func (p Pattern) Match(topic string) bool {
	switch {
	case p.exact:
		return topic == p.text
	case p.prefix == "":
		return !IsSys(topic)
	default:
		return strings.HasPrefix(topic, p.prefix)
	}
}

// Covers reports whether every topic q matches is also matched by p, so a
// client pattern can be checked against a server-side boundary.
func (p Pattern) Covers(q Pattern) bool {
	switch {
	case p.isAll():
		return true
	case p.exact:
		return q.exact && q.text == p.text
	case q.exact:
		return strings.HasPrefix(q.text, p.prefix)
	case q.prefix == "":
		return false
	default:
		return strings.HasPrefix(q.prefix, p.prefix)
	}
}

// Patterns is a list of patterns as a client wrote them; [NewFilter] makes
// the union a store and the hub use.
type Patterns []Pattern

// ParsePatterns parses each string with ParsePattern.
func ParsePatterns(ss ...string) (Patterns, error) {
	ps := make(Patterns, 0, len(ss))
	for _, s := range ss {
		p, err := ParsePattern(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// Match reports whether any pattern matches topic.
func (ps Patterns) Match(topic string) bool {
	for _, p := range ps {
		if p.Match(topic) {
			return true
		}
	}
	return false
}
