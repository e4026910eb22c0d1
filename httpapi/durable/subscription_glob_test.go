package durable

import (
	"strings"
	"testing"
	"time"
)

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"events/*", "events/a", true},
		{"events/*", "events", false},
		{"events/*", "events/a/b", false},
		{"events/**", "events", true},
		{"events/**", "events/a/b/c", true},
		{"**", "a", true},
		{"**/x", "x", true},
		{"**/x", "a/b/x", true},
		{"**/x", "a/b/y", false},
		{"a/**/b/**/c", "a/b/c", true},
		{"a/**/b/**/c", "a/1/2/b/3/c", true},
		{"a/**/b/**/c", "a/1/2/c/3/b", false},
		{"*/b", "a/b", true},
		{"a%2A", "a*", true},
		{"a%2A", "ab", false},
		{"a*", "ab", false}, // '*' inside a segment is literal
		{"a*", "a*", true},
	} {
		if got := globMatch(c.pattern, c.path); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

// TestGlobMatchHostile: the longest pattern a client may send, all "**"
// but a literal that never matches, against a path of many segments,
// takes linear time (a backtracking matcher takes exponential time).
func TestGlobMatchHostile(t *testing.T) {
	segs := make([]string, maxPatternSegs)
	for i := range segs {
		segs[i] = "**"
	}
	segs[len(segs)-1] = "nope"
	p, err := normalizePattern(strings.Join(segs, "/"))
	if err != nil {
		t.Fatal(err)
	}
	path := strings.Repeat("a/", 80) + "b"
	start := time.Now()
	for range 1000 {
		if globMatch(p, path) {
			t.Fatal("matched")
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("1,000 hostile matches took %v", d)
	}
}

func TestPatternScope(t *testing.T) {
	for p, want := range map[string]string{"events/*": "ds.events.*", "**": "ds.*", "a/b": "ds.a.b", "a/b/**/c": "ds.a.b.*", "*/x": "ds.*", "a%2A/*": "ds.a_2A.*"} {
		if got, err := patternScope(p); err != nil || got != want {
			t.Errorf("patternScope(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
}

func BenchmarkGlobMatch(b *testing.B) {
	for range b.N {
		globMatch("events/**/orders/*", "events/eu/west/orders/42")
	}
}
