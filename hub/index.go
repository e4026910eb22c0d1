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
	exact  map[string]map[*Subscriber]struct{}
	prefix map[string]map[*Subscriber]struct{} // keyed "prefix."
	all    map[*Subscriber]struct{}
}

func newIndex() index {
	return index{exact: map[string]map[*Subscriber]struct{}{}, prefix: map[string]map[*Subscriber]struct{}{},
		all: map[*Subscriber]struct{}{}}
}

func (x *index) add(s *Subscriber) {
	f := s.filter
	if f.IsAll() {
		x.all[s] = struct{}{}
		return
	}
	for _, p := range f.Patterns() {
		m, key := x.exact, p.String()
		if !p.Exact() {
			m, key = x.prefix, key[:len(key)-1] // "a.*" -> "a."
		}
		set := m[key]
		if set == nil {
			set = map[*Subscriber]struct{}{}
			m[key] = set
		}
		set[s] = struct{}{}
	}
}

func (x *index) remove(s *Subscriber) {
	f := s.filter
	if f.IsAll() {
		delete(x.all, s)
		return
	}
	for _, p := range f.Patterns() {
		m, key := x.exact, p.String()
		if !p.Exact() {
			m, key = x.prefix, key[:len(key)-1]
		}
		if set := m[key]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(m, key)
			}
		}
	}
}

// each calls fn for every subscriber whose filter matches topic, once.
func (x *index) each(topic string, fn func(*Subscriber)) {
	if ssehub.IsSys(topic) {
		return
	}
	for s := range x.exact[topic] {
		fn(s)
	}
	if len(x.prefix) > 0 {
		for i := 0; i < len(topic); i++ {
			if topic[i] == '.' {
				for s := range x.prefix[topic[:i+1]] {
					fn(s)
				}
			}
		}
	}
	for s := range x.all {
		fn(s)
	}
}

// drain empties the index and returns every subscriber it held, once each.
func (x *index) drain() []*Subscriber {
	seen := map[*Subscriber]struct{}{}
	add := func(set map[*Subscriber]struct{}) {
		for s := range set {
			seen[s] = struct{}{}
		}
	}
	for _, set := range x.exact {
		add(set)
	}
	for _, set := range x.prefix {
		add(set)
	}
	add(x.all)
	*x = newIndex()
	out := make([]*Subscriber, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	return out
}
