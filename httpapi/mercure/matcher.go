package mercure

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/dunglas/go-urlpattern"
	"github.com/yosida95/uritemplate/v3"
)

// Matcher types: the two of the specification, and the URI Template
// selectors of the older `topic=` parameter and `mercure` claim.
const (
	typeExact       = "exact"
	typeURLPattern  = "urlpattern"
	typeURITemplate = "uritemplate"
)

// wildcard matches every topic whatever the matcher type.
const wildcard = "*"

var errMatcherType = errors.New("unsupported matcher type")

// matcher is one compiled topic matcher.
type matcher struct {
	typ     string
	pattern string
	url     *urlpattern.URLPattern
	tpl     *regexp.Regexp
}

// newMatcher compiles a matcher; base is the hub's URL, which relative URL
// patterns and topics resolve against.
func newMatcher(typ, pattern, base string) (*matcher, error) {
	m := &matcher{typ: typ, pattern: pattern}
	switch {
	case typ != typeExact && typ != typeURLPattern && typ != typeURITemplate:
		return nil, fmt.Errorf("%w %q (supported: exact, urlpattern)", errMatcherType, typ)
	case pattern == wildcard:
		return m, nil
	}
	switch typ {
	case typeExact:
	case typeURLPattern:
		// nil options: ignoreCase stays off, as the specification requires.
		p, err := urlpattern.New(pattern, base, nil)
		if err != nil {
			return nil, fmt.Errorf("not a valid URL pattern: %w", err)
		}
		m.url = p
	case typeURITemplate:
		// A selector that is not a URI Template is compared exactly, as the
		// reference hub does.
		if t, err := uritemplate.New(pattern); err == nil && len(t.Varnames()) > 0 {
			m.tpl = t.Regexp()
		}
	}
	return m, nil
}

// match reports whether the matcher selects any of topics. Go's regexp
// engine (RE2) matches in linear time, so a crafted pattern cannot make it
// backtrack.
func (m *matcher) match(topics []string, base string) bool {
	if m.pattern == wildcard {
		return true
	}
	switch {
	case m.url != nil:
		return slices.ContainsFunc(topics, func(t string) bool {
			return urlPatternResults.test(matchKey{base, m.pattern, t}, func() bool { return m.url.Test(t, base) })
		})
	case m.tpl != nil:
		return slices.ContainsFunc(topics, func(t string) bool { return t == m.pattern || m.tpl.MatchString(t) })
	}
	return slices.Contains(topics, m.pattern)
}

// matchers is a list; it matches when one does.
type matchers []*matcher

func (ms matchers) match(topics []string, base string) bool {
	for _, m := range ms {
		if m.match(topics, base) {
			return true
		}
	}
	return false
}
