package ssehub

import (
	"sort"
	"strings"
)

// Filter selects events by topic: the union of a set of patterns, kept
// normalized (no pattern covers another, sorted), so that
//
//   - a topic is matched by at most one of its patterns,
//   - Match costs one map lookup per token of the topic, however many
//     patterns the filter holds, and
//   - a store can translate it into its own index: the exact topics and
//     prefixes of Patterns (a per-topic index in bolt, subject filters in
//     NATS JetStream), or a scan of everything when All reports true.
//
// Filters combine with Intersect (a stream's match with a client's
// ?event_type= or a token's scope) and Union. The zero Filter matches
// nothing; [All] matches every topic a client can name. No filter matches
// the reserved system topics (see [SysPrefix]). A Filter is immutable and
// safe for concurrent use.
type Filter struct {
	all      bool
	pats     []Pattern           // normalized, sorted by text; nil when all
	exact    map[string]struct{} // topics of the exact patterns
	prefixes map[string]struct{} // "prefix." of the prefix patterns
}

// All returns the filter that matches every topic (the pattern "*").
func All() Filter { return Filter{all: true} }

// NewFilter returns the union of ps, normalized.
func NewFilter(ps ...Pattern) Filter {
	for _, p := range ps {
		if p.isAll() {
			return All()
		}
	}
	// Keep a pattern only when no other pattern covers it, and one of equal
	// patterns: a pattern is covered exactly when a prefix pattern names one
	// of its dot-prefixes, so each is checked with a lookup per token, and
	// normalizing n patterns costs O(n log n), not O(n²).
	prefixes := make(map[string]struct{})
	for _, p := range ps {
		if !p.exact {
			prefixes[p.prefix] = struct{}{}
		}
	}
	covered := func(p Pattern) bool {
		text := p.text
		if !p.exact {
			text = p.prefix[:len(p.prefix)-1] // "a.b." is covered by "a.*", not by itself
		}
		for i := 0; i < len(text); i++ {
			if text[i] == '.' {
				if _, ok := prefixes[text[:i+1]]; ok {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, len(ps))
	kept := make([]Pattern, 0, len(ps))
	for _, p := range ps {
		if _, dup := seen[p.text]; dup || covered(p) {
			continue
		}
		seen[p.text] = struct{}{}
		kept = append(kept, p)
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].text < kept[j].text })
	f := Filter{pats: kept}
	for _, p := range kept {
		if p.exact {
			if f.exact == nil {
				f.exact = make(map[string]struct{})
			}
			f.exact[p.text] = struct{}{}
		} else {
			if f.prefixes == nil {
				f.prefixes = make(map[string]struct{})
			}
			f.prefixes[p.prefix] = struct{}{}
		}
	}
	return f
}

// ParseFilter parses each string with ParsePattern and returns their union.
func ParseFilter(ss ...string) (Filter, error) {
	ps, err := ParsePatterns(ss...)
	if err != nil {
		return Filter{}, err
	}
	return NewFilter(ps...), nil
}

// MustFilter is ParseFilter for patterns known to be valid; it panics otherwise.
func MustFilter(ss ...string) Filter {
	f, err := ParseFilter(ss...)
	if err != nil {
		panic(err)
	}
	return f
}

// Match reports whether the filter selects topic.
func (f Filter) Match(topic string) bool {
	if IsSys(topic) {
		return false
	}
	if f.all {
		return true
	}
	if _, ok := f.exact[topic]; ok {
		return true
	}
	if len(f.prefixes) == 0 {
		return false
	}
	for i := 0; i < len(topic); i++ {
		if topic[i] == '.' {
			if _, ok := f.prefixes[topic[:i+1]]; ok {
				return true
			}
		}
	}
	return false
}

// IsAll reports whether the filter matches every topic.
func (f Filter) IsAll() bool { return f.all }

// IsEmpty reports whether the filter matches no topic.
func (f Filter) IsEmpty() bool { return !f.all && len(f.pats) == 0 }

// Patterns returns the filter's normalized patterns: [*] for All, none for
// the empty filter. The caller must not modify the slice.
func (f Filter) Patterns() []Pattern {
	if f.all {
		return []Pattern{{text: "*"}}
	}
	return f.pats
}

// Len returns how many patterns the normalized filter holds.
func (f Filter) Len() int { return len(f.Patterns()) }

// ExactTopics returns the topics of the filter's exact patterns: the ones a
// subscriber asked for by name, which end its stream when deregistered.
func (f Filter) ExactTopics() []string {
	var out []string
	for _, p := range f.pats {
		if p.exact {
			out = append(out, p.text)
		}
	}
	return out
}

// Intersect returns the filter that matches the topics both f and g match:
// a client's narrowing of a stream can only narrow it, never widen it.
func (f Filter) Intersect(g Filter) Filter {
	switch {
	case f.all:
		return g
	case g.all:
		return f
	}
	var out []Pattern
	for _, p := range f.pats {
		for _, q := range g.pats {
			switch {
			case p.Covers(q):
				out = append(out, q)
			case q.Covers(p):
				out = append(out, p)
			}
			// Otherwise p and q share no topic: two prefixes that cover
			// neither each other are disjoint, and so is an exact topic
			// outside a prefix.
		}
	}
	return NewFilter(out...)
}

// Union returns the filter that matches the topics f or g matches.
func (f Filter) Union(g Filter) Filter {
	if f.all || g.all {
		return All()
	}
	return NewFilter(append(append([]Pattern(nil), f.pats...), g.pats...)...)
}

// Covers reports whether every topic g matches is matched by f, so that a
// request can be checked against a boundary such as a token's scope.
func (f Filter) Covers(g Filter) bool {
	if f.all {
		return true
	}
	if g.all {
		return false
	}
	for _, q := range g.pats {
		ok := false
		for _, p := range f.pats {
			if p.Covers(q) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// String returns the patterns joined by commas.
func (f Filter) String() string {
	ps := f.Patterns()
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = p.text
	}
	return strings.Join(ss, ",")
}
