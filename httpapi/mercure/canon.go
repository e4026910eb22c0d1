package mercure

import (
	"strings"
	"sync/atomic"

	whatwg "github.com/nlnwa/whatwg-url/url"
)

// urlParser is the WHATWG URL parser, the one URL pattern matchers
// (go-urlpattern) parse topics with. The hub's own checks on a published
// topic (the reserved namespace, the native topics' IRIs) must see the
// topic as such a matcher does: Go's net/url keeps a backslash, a
// leading space, "https:host" without slashes, and the case of scheme
// and host, where a URL pattern takes the URL the spelling stands for.
var urlParser = whatwg.NewParser()

// parseURL parses topic against base as a URL pattern matcher does; nil
// when it is no URL there.
func parseURL(topic, base string) *whatwg.Url {
	b := parsedBase(base)
	if b == nil {
		return nil
	}
	u, err := urlParser.BasicParser(topic, b, nil, whatwg.NoState)
	if err != nil {
		return nil
	}
	return u
}

// baseURL is a hub URL parsed.
type baseURL struct {
	raw string
	u   *whatwg.Url
}

// lastBase is the hub URL parsed last: nearly every request has the same
// one, and parsing it costs more than the topic.
var lastBase atomic.Pointer[baseURL]

// parsedBase returns base parsed, a copy of its own: the parser hands
// parts of a base (its path, for a relative reference) to the URL it
// makes, so one cached base is never given to a parse.
func parsedBase(base string) *whatwg.Url {
	if c := lastBase.Load(); c != nil && c.raw == base {
		return c.u.Clone()
	}
	u, err := urlParser.Parse(base)
	if err != nil {
		return nil
	}
	u.SearchParams() // made now, so that Clone only reads it
	lastBase.Store(&baseURL{raw: base, u: u})
	return u.Clone()
}

// matchedForm is u as a URL pattern written as a plain URL matches it:
// scheme, host, port and path, with the query and fragment only when
// asked (such a pattern takes any user, password, query and fragment
// where it names none).
func matchedForm(u *whatwg.Url, search, hash bool) string {
	s := u.Protocol()
	if h := u.Host(); h != "" {
		s += "//" + h
	}
	s += u.Pathname()
	if search {
		s += u.Search()
	}
	if hash {
		s += u.Hash()
	}
	return s
}

// nativeRemainder returns what follows the native IRI prefix in topic,
// both parsed as a URL pattern matcher does, and whether topic is under
// the prefix that way. Native topics are letters, digits, '_', '-' and
// '.', which the URL parser never changes.
func (f *Feature) nativeRemainder(topic, base string) (string, bool) {
	pf := f.prefixFormFor(base)
	if pf == nil || pf.form == "" {
		return "", false
	}
	tu := parseURL(topic, base)
	if tu == nil {
		return "", false
	}
	return strings.CutPrefix(matchedForm(tu, pf.search, pf.hash), pf.form)
}

// prefixForm is the native IRI prefix as nativeRemainder compares it,
// for one hub URL.
type prefixForm struct {
	base         string
	form         string // "": the prefix is no URL there
	search, hash bool   // the native IRIs' topic is in the query, the fragment
}

// prefixFormFor returns the prefix's form against base (the last one is
// kept: nearly every request has the same base). It is of prefix+"x"
// without the "x", since a prefix alone may parse otherwise
// ("https://a.example" gains a '/', which prefix+topic does not); its
// query and fragment count only where the native IRIs' topic is in them.
func (f *Feature) prefixFormFor(base string) *prefixForm {
	if c := f.lastPrefix.Load(); c != nil && c.base == base {
		return c
	}
	pf := &prefixForm{base: base}
	if pu := parseURL(f.opts.NativeIRIPrefix+"x", base); pu != nil {
		pf.search, pf.hash = pu.Search() != "", pu.Hash() != ""
		if form, ok := strings.CutSuffix(matchedForm(pu, pf.search, pf.hash), "x"); ok {
			pf.form = form
		}
	}
	f.lastPrefix.Store(pf)
	return pf
}
