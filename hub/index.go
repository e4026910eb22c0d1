package hub

import "github.com/ssehub/ssehub"

// index finds the live subscribers an event reaches without looking at the
// others: subscribers are kept under each pattern of their filter, by exact
// topic, by prefix, or among those that take every topic. An event with
// topic "a.b.c" looks up exact["a.b.c"], prefix["a."], prefix["a.b."] and
// all, so it costs O(tokens of its topic + subscribers it reaches), however
// many subscribers there are. A normalized filter matches a topic through
// one pattern at most, so a subscriber is reached once per event.
type index struct {
	exact  map[string]subSet
	prefix map[string]subSet // keyed "prefix."
	all    map[*Subscriber]struct{}
}

// subSet is the subscribers of one pattern. Most patterns have one (a
// topic per subscriber is common), which needs no map of its own: a map
// costs about 190 bytes, a fifth of an idle subscriber.
type subSet struct {
	one  *Subscriber              // the only one, while many is nil
	many map[*Subscriber]struct{} // once a second one came; never goes back to one
}

func (set subSet) empty() bool { return set.one == nil && len(set.many) == 0 }

func newIndex() index {
	return index{exact: map[string]subSet{}, prefix: map[string]subSet{}, all: map[*Subscriber]struct{}{}}
}

// key returns the map and key of pattern p.
func (x *index) key(p ssehub.Pattern) (map[string]subSet, string) {
	if p.Exact() {
		return x.exact, p.String()
	}
	k := p.String()
	return x.prefix, k[:len(k)-1] // "a.*" -> "a."
}

func (x *index) add(s *Subscriber) {
	f := s.filter
	if f.IsAll() {
		x.all[s] = struct{}{}
		return
	}
	for _, p := range f.Patterns() {
		m, key := x.key(p)
		set := m[key]
		switch {
		case set.many != nil:
			set.many[s] = struct{}{}
		case set.one == nil || set.one == s:
			set.one = s
		default:
			set.many = map[*Subscriber]struct{}{set.one: {}, s: {}}
			set.one = nil
		}
		m[key] = set
	}
}

func (x *index) remove(s *Subscriber) {
	f := s.filter
	if f.IsAll() {
		delete(x.all, s)
		return
	}
	for _, p := range f.Patterns() {
		m, key := x.key(p)
		set, ok := m[key]
		if !ok {
			continue
		}
		// Never back from many to one: each may be ranging over many.
		if set.one == s {
			set.one = nil
		}
		delete(set.many, s)
		if set.empty() {
			delete(m, key)
		} else {
			m[key] = set
		}
	}
}

// each calls fn for every subscriber whose filter matches topic, once. fn
// may remove the subscriber it is given.
func (x *index) each(topic string, fn func(*Subscriber)) {
	if ssehub.IsSys(topic) {
		return
	}
	x.eachOf(x.exact[topic], fn)
	if len(x.prefix) > 0 {
		for i := 0; i < len(topic); i++ {
			if topic[i] == '.' {
				x.eachOf(x.prefix[topic[:i+1]], fn)
			}
		}
	}
	for s := range x.all {
		fn(s)
	}
}

func (x *index) eachOf(set subSet, fn func(*Subscriber)) {
	if set.one != nil {
		fn(set.one)
	}
	for s := range set.many {
		fn(s)
	}
}

// drain empties the index and returns every subscriber it held, once each.
func (x *index) drain() []*Subscriber {
	seen := map[*Subscriber]struct{}{}
	for _, m := range []map[string]subSet{x.exact, x.prefix} {
		for _, set := range m {
			x.eachOf(set, func(s *Subscriber) { seen[s] = struct{}{} })
		}
	}
	for s := range x.all {
		seen[s] = struct{}{}
	}
	*x = newIndex()
	out := make([]*Subscriber, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	return out
}
