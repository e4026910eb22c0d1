package ssehub_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ssehub/ssehub"
)

func TestPatternCovers(t *testing.T) {
	cases := []struct {
		p, q string
		want bool
	}{
		{"*", "*", true},
		{"*", "a.*", true},
		{"*", "a", true},
		{"a.*", "*", false},
		{"a.*", "a.*", true},
		{"a.*", "a.b.*", true},
		{"a.b.*", "a.*", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false}, // "a.*" needs a token after "a."
		{"a.*", "ab.c", false},
		{"a.*", "ab.*", false},
		{"a", "a", true},
		{"a", "a.*", false},
		{"a", "b", false},
		{"a.b", "a.*", false},
	}
	for _, c := range cases {
		p, q := ssehub.MustPattern(c.p), ssehub.MustPattern(c.q)
		if got := p.Covers(q); got != c.want {
			t.Errorf("%q.Covers(%q) = %v, want %v", c.p, c.q, got, c.want)
		}
	}
}

func TestPatternNeverMatchesSys(t *testing.T) {
	for _, p := range []string{"*", "sys.*", "a"} {
		if ssehub.MustPattern(p).Match(ssehub.SysRevoke) {
			t.Errorf("%q matches %q", p, ssehub.SysRevoke)
		}
	}
	if ssehub.All().Match(ssehub.SysDeregister) {
		t.Error("All matches a system topic")
	}
	if err := ssehub.ValidateTopic(ssehub.SysRevoke); err == nil {
		t.Error("a client may name a system topic")
	}
}

func TestFilterNormalizes(t *testing.T) {
	cases := []struct {
		in   []string
		want string
	}{
		{[]string{"a.b", "a.*"}, "a.*"},
		{[]string{"a.*", "a.b.*", "a.b.c"}, "a.*"},
		{[]string{"b", "a", "b"}, "a,b"},
		{[]string{"x.*", "*", "y"}, "*"},
		{[]string{"a.b.*", "a.c"}, "a.b.*,a.c"},
		{nil, ""},
	}
	for _, c := range cases {
		f := ssehub.MustFilter(c.in...)
		if got := f.String(); got != c.want {
			t.Errorf("NewFilter(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if !ssehub.MustFilter().IsEmpty() || ssehub.MustFilter().Match("a") {
		t.Error("the empty filter matches")
	}
	if (ssehub.Filter{}).Match("a") {
		t.Error("the zero filter matches")
	}
}

func TestFilterIntersect(t *testing.T) {
	cases := []struct {
		a, b []string
		want string
	}{
		{[]string{"*"}, []string{"a.*"}, "a.*"},
		{[]string{"a.*"}, []string{"*"}, "a.*"},
		{[]string{"a.*"}, []string{"a.b"}, "a.b"},
		{[]string{"a.*"}, []string{"b.*"}, ""},
		{[]string{"a.*"}, []string{"a.b.*", "c"}, "a.b.*"},
		{[]string{"alert.*"}, []string{"alert.cpu", "user.login"}, "alert.cpu"},
		{[]string{"a", "b"}, []string{"b", "c"}, "b"},
		{[]string{"a.*", "b.*"}, []string{"a.x.*", "b.y"}, "a.x.*,b.y"},
	}
	for _, c := range cases {
		got := ssehub.MustFilter(c.a...).Intersect(ssehub.MustFilter(c.b...))
		if got.String() != c.want {
			t.Errorf("%q ∩ %q = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}

// TestFilterAgainstPatterns checks Match, Intersect, Union and Covers of
// random filters against the plain definition on random topics.
func TestFilterAgainstPatterns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := []string{"a", "b", "c"}
	topic := func() string {
		n := 1 + rng.IntN(3)
		s := tokens[rng.IntN(3)]
		for i := 1; i < n; i++ {
			s += "." + tokens[rng.IntN(3)]
		}
		return s
	}
	pattern := func() string {
		switch rng.IntN(5) {
		case 0:
			return "*"
		case 1, 2:
			return topic() + ".*"
		}
		return topic()
	}
	patterns := func() []string {
		out := make([]string, rng.IntN(5))
		for i := range out {
			out[i] = pattern()
		}
		return out
	}
	naive := func(ps []string, topic string) bool {
		for _, p := range ps {
			if ssehub.MustPattern(p).Match(topic) {
				return true
			}
		}
		return false
	}
	var topics []string
	for range 200 {
		topics = append(topics, topic())
	}
	for range 2000 {
		a, b := patterns(), patterns()
		fa, fb := ssehub.MustFilter(a...), ssehub.MustFilter(b...)
		inter, union := fa.Intersect(fb), fa.Union(fb)
		coversAll := true
		for _, tp := range topics {
			ma, mb := naive(a, tp), naive(b, tp)
			if fa.Match(tp) != ma {
				t.Fatalf("%q match %q: got %v", a, tp, !ma)
			}
			if inter.Match(tp) != (ma && mb) {
				t.Fatalf("%q ∩ %q = %q match %q: got %v", a, b, inter, tp, !(ma && mb))
			}
			if union.Match(tp) != (ma || mb) {
				t.Fatalf("%q ∪ %q match %q wrong", a, b, tp)
			}
			if mb && !ma {
				coversAll = false
			}
		}
		// Covers is exact on patterns; on a sample of topics it can only
		// claim too little, never too much.
		if fa.Covers(fb) && !coversAll {
			t.Fatalf("%q covers %q, but a topic of the second is outside the first", a, b)
		}
		// A normalized filter matches a topic through one pattern at most.
		for _, tp := range topics {
			n := 0
			for _, p := range inter.Patterns() {
				if p.Match(tp) {
					n++
				}
			}
			if n > 1 {
				t.Fatalf("%q matches %q through %d patterns", inter, tp, n)
			}
		}
	}
}

func TestFilterExactTopics(t *testing.T) {
	f := ssehub.MustFilter("b", "a.*", "a.c", "d")
	if got := f.ExactTopics(); !slices.Equal(got, []string{"b", "d"}) {
		t.Fatalf("exact topics %q", got)
	}
}

func BenchmarkFilterMatch(b *testing.B) {
	for _, n := range []int{1, 32, 1024} {
		var ps []string
		for i := range n {
			ps = append(ps, fmt.Sprintf("tenant%d.orders.*", i))
		}
		f := ssehub.MustFilter(ps...)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				f.Match("tenant999999.orders.created")
			}
		})
	}
}

func ExampleFilter_Intersect() {
	stream := ssehub.MustFilter("alert.*")             // what a stream may carry
	client := ssehub.MustFilter("alert.cpu", "user.*") // what a client asked for
	f := stream.Intersect(client)
	fmt.Println(f, f.Match("alert.cpu"), f.Match("user.login"))
	// Output: alert.cpu true false
}

// BenchmarkNewFilter: normalizing n patterns costs about n log n, so a
// large limits.max_topics cannot be turned into a CPU denial of service.
func BenchmarkNewFilter(b *testing.B) {
	for _, n := range []int{32, 1000, 10000} {
		var ps []ssehub.Pattern
		for i := range n {
			ps = append(ps, ssehub.MustPattern(fmt.Sprintf("t%d.x.*", i)), ssehub.MustPattern(fmt.Sprintf("t%d.x.y", i)))
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				ssehub.NewFilter(ps...)
			}
		})
	}
}
