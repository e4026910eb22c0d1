package mercure

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// selector is one topic matcher of a subscription request.
type selector struct {
	typ, pattern string
	m            *matcher
}

// parseSelectors reads the matcher parameters: match (exact),
// match_exact, match_urlpattern, and the older topic (exact or URI
// Template). Any other name in the reserved match namespace is refused.
func (f *Feature) parseSelectors(q url.Values, base string) ([]selector, int, string) {
	var out []selector
	for name, values := range q {
		var typ string
		switch {
		case name == "match" || name == "match_exact":
			typ = typeExact
		case name == "match_urlpattern":
			typ = typeURLPattern
		case name == "topic":
			typ = typeURITemplate
		case strings.HasPrefix(strings.ToLower(name), "match"):
			return nil, http.StatusBadRequest, "unsupported matcher parameter " + strconvQuote(name) + " (supported: match, match_exact, match_urlpattern, topic)"
		default:
			continue
		}
		for _, v := range values {
			if len(out) == f.opts.MaxMatchers {
				return nil, http.StatusBadRequest, fmt.Sprintf("a subscription has at most %d matchers", f.opts.MaxMatchers)
			}
			if len(v) > f.opts.MaxFieldLen {
				return nil, http.StatusBadRequest, fmt.Sprintf("a matcher is at most %d bytes", f.opts.MaxFieldLen)
			}
			if err := checkText(v); err != nil {
				return nil, http.StatusBadRequest, "the " + name + " value " + strconvQuote(v) + " " + err.Error()
			}
			m, err := newMatcher(typ, v, base)
			if err != nil {
				return nil, http.StatusBadRequest, "the " + name + " value " + strconvQuote(v) + " is " + err.Error()
			}
			out = append(out, selector{typ: typ, pattern: v, m: m})
		}
	}
	if len(out) == 0 {
		return nil, http.StatusBadRequest, "a subscription needs at least one match, match_urlpattern or topic parameter"
	}
	return out, 0, ""
}

// resume reads the cursor: the Last-Event-ID header, else last_event_id
// (or the older lastEventID) in the query. It returns where to start and
// the Mercure-Last-Event-ID to answer.
func (f *Feature) resume(ctx context.Context, r *http.Request, q url.Values) (hub.Resume, string, error) {
	raw := r.Header.Get("Last-Event-ID")
	if raw == "" {
		raw = q.Get("last_event_id")
	}
	if raw == "" {
		raw = q.Get("lastEventID")
	}
	switch {
	case raw == "":
		return hub.Resume{}, "", nil
	case raw == "earliest":
		return hub.Resume{Set: true, Earliest: true}, "earliest", nil
	case strings.HasPrefix(raw, "#"):
		if res, err := hub.ParseResume(raw[1:]); err == nil && !res.Earliest {
			if res.Epoch != "" && res.Epoch != f.s.Hub().Epoch() {
				// An id of another instance of the log (recreated): the
				// hub sends everything it has.
				return res, "earliest", nil
			}
			return res, raw, nil
		}
	default:
		logID, ok, err := f.ids.lookup(ctx, raw)
		if err != nil {
			return hub.Resume{}, "", err
		}
		if ok {
			return hub.Resume{Set: true, After: logID}, raw, nil
		}
	}
	// An id the hub does not know: everything it has, as the
	// specification's Mercure-Last-Event-ID "earliest" says.
	return hub.Resume{Set: true, Earliest: true}, "earliest", nil
}

// methodQuery is the safe method with a body (RFC 10008) a subscriber may
// use when its matchers do not fit in a URL.
const methodQuery = "QUERY"

// mergeBody adds a QUERY request's form-encoded parameters to q: the union
// of both, except last_event_id, which the query component's wins.
func (f *Feature) mergeBody(w http.ResponseWriter, r *http.Request, q url.Values) bool {
	if mt := httpapi.MediaType(r); mt != "application/x-www-form-urlencoded" {
		plainError(w, http.StatusUnsupportedMediaType, "a QUERY subscription's body is application/x-www-form-urlencoded, not "+strconvQuote(mt))
		return false
	}
	body, ok := f.s.ReadBody(w, r, f.opts.MaxBodyBytes)
	if !ok {
		return false
	}
	b, err := url.ParseQuery(string(body))
	if err != nil {
		plainError(w, http.StatusBadRequest, "the body is not valid form encoding: "+err.Error())
		return false
	}
	for k, vs := range b {
		if k == "last_event_id" && q.Has(k) {
			continue
		}
		q[k] = append(q[k], vs...)
	}
	return true
}

// handleSubscribe serves GET (and QUERY) /.well-known/mercure.
func (f *Feature) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	base := f.hubURL(r)
	link(w, base, "")
	f.s.CORS().Apply(w.Header(), r)
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		plainError(w, http.StatusBadRequest, "the query is not valid form encoding: "+err.Error())
		return
	}
	if r.Method == methodQuery && !f.mergeBody(w, r, q) {
		return
	}
	sels, status, msg := f.parseSelectors(q, base)
	if status != 0 {
		plainError(w, status, msg)
		return
	}
	cred, ok := f.authenticate(w, r, f.sub, base)
	if !ok {
		return
	}
	if cred.anonymous() && !f.opts.Anonymous {
		f.bearerError(w, r, http.StatusUnauthorized, "", "this hub needs an access token to subscribe: send Authorization: Bearer <token> or the "+LegacyCookieName+" cookie")
		return
	}
	// Native events are private: an anonymous subscriber's filter holds
	// none of them, whatever native_topics says.
	filter := ssehub.MustFilter(PublicPrefix + "*")
	if !cred.anonymous() {
		filter = ssehub.MustFilter(PublicPrefix+"*", PrivatePrefix+"*").Union(f.nativeFilter(sels))
	}
	if cred.hub != nil && !cred.hub.Admin {
		if !cred.hub.Token.Purpose.Allows(auth.PurposeStream) {
			f.bearerError(w, r, http.StatusForbidden, "insufficient_scope", "the token's purpose is "+string(cred.hub.Token.Purpose)+"; subscribing needs stream")
			return
		}
		filter = filter.Intersect(cred.hub.Scope())
		if filter.IsEmpty() {
			msg := "the token's scope holds no Mercure topic (" + PublicPrefix + "* or " + PrivatePrefix + "*)"
			if !f.native.IsEmpty() {
				msg = "the token's scope holds no Mercure topic (" + PublicPrefix + "*, " + PrivatePrefix + "* or the native topics " + f.native.String() + ")"
			}
			f.bearerError(w, r, http.StatusForbidden, "insufficient_scope", msg)
			return
		}
	}
	from, lastID, err := f.resume(r.Context(), r, q)
	if err != nil {
		f.log.Error("mercure: resolving Last-Event-ID", "err", err)
		plainError(w, http.StatusServiceUnavailable, "the hub could not resolve Last-Event-ID; retry")
		return
	}
	release, ok := f.s.Limiter().OpenStream(w, r, f.limitKey(cred))
	if !ok {
		return
	}
	req := &subscribeRequest{filter: filter, from: from, lastID: lastID, cred: cred, sels: sels, base: base}
	if p := f.pumpFor(w, r); p != nil {
		f.serveDetached(w, r, p, req, release)
		return
	}
	defer release()
	f.serveGoroutine(w, r, req)
}

// subscribeRequest is a subscription request checked and resolved.
type subscribeRequest struct {
	filter ssehub.Filter
	from   hub.Resume
	lastID string // the Mercure-Last-Event-ID to answer, if any
	cred   *credential
	sels   []selector
	base   string
}

// hubOptions are the hub subscription's options, reading the log within ctx.
func (req *subscribeRequest) hubOptions(ctx context.Context) hub.SubscribeOptions {
	var hc *hub.Credential
	if req.cred.hub != nil {
		hc = req.cred.hub.Credential()
	}
	return hub.SubscribeOptions{Context: ctx, Filter: req.filter, Topics: []string{}, Format: Format, EpochIDs: true, From: req.from, Credential: hc}
}

// expires is the JWT's exp, zero when there is none.
func (req *subscribeRequest) expires() time.Time {
	if req.cred.jwt != nil {
		return req.cred.jwt.expires
	}
	return time.Time{}
}

// serveGoroutine serves the stream from the handler's goroutine (HTTP/2,
// QUERY, server.goroutine_per_stream, systems without epoll).
func (f *Feature) serveGoroutine(w http.ResponseWriter, r *http.Request, req *subscribeRequest) {
	ctx, cancel := withServer(r.Context(), f.s.Context())
	defer cancel()
	if exp := req.expires(); !exp.IsZero() {
		// The connection ends no later than the token's exp.
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, exp)
		defer stop()
	}
	opts := req.hubOptions(ctx)
	opts.OnEnd = func(error) { cancel() }
	sub, err := f.s.Hub().Subscribe(opts)
	if err != nil {
		subscribeError(w, err)
		return
	}
	defer sub.Close()
	if f.opts.Subscriptions {
		// Before the response starts, so a subscriber that saw it open
		// can count on the subscription events being in the log.
		s := f.subs.open(f, req.cred, req.sels, req.base)
		defer f.subs.close(f, s)
	}
	req.writeHeaders(w, r)
	rc := http.NewResponseController(w)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(f.opts.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write([]byte(":\n")) != nil {
		return
	}
	v := view{f: f, sels: req.sels, cred: req.cred, base: req.base}
	for {
		ready, err := sub.Wait(ctx, f.opts.Heartbeat)
		if err != nil {
			return
		}
		if !ready {
			if write([]byte(":\n")) != nil {
				return
			}
			continue
		}
		// A buffer only for this write: an idle stream holds none.
		bp := bufPool.Get().(*[]byte)
		buf, err := sub.Next((*bp)[:0], writeChunk)
		out := v.keep(buf, 0)
		werr := error(nil)
		if len(out) > 0 {
			werr = write(out)
		}
		if cap(buf) <= 4*writeChunk {
			*bp = buf[:0]
			bufPool.Put(bp)
		}
		if werr != nil || err != nil {
			return
		}
	}
}

// writeChunk is how much one Next may return (one event may be larger).
const writeChunk = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk); return &b }}

// delivers decides for one update: it must match a selector, and a
// private one needs a subscribe grant on one of its topics (an ssehub token
// got it through its scope already).
func (f *Feature) delivers(u *update, sels []selector, cred *credential, base string) bool {
	topics := u.topics
	if u.native {
		if !f.mapNative(u, base) {
			return false
		}
		topics = u.iri
	}
	matched := false
	for i := range sels {
		if sels[i].m.match(topics, base) {
			matched = true
			break
		}
	}
	if !matched {
		return false
	}
	if !u.private {
		return true
	}
	switch {
	case cred.jwt != nil:
		return cred.jwt.may(false, topics, base)
	case cred.hub != nil:
		// The stream's filter is within the token's scope.
		return true
	}
	return false
}

// mapNative sets u.iri to the IRI of a native event's topic and reports
// whether the event may be delivered: its topic is one of native_topics
// (the stream's filter holds no other; checked again so that no mistake
// there can show a ds.* or unlisted event) and its IRI is not in the hub's
// reserved namespace, where it would pass for a subscription event.
func (f *Feature) mapNative(u *update, base string) bool {
	if len(u.topics) != 1 {
		return false
	}
	t := u.topics[0]
	if t != u.nativeTopic || u.iri == nil {
		iri := f.opts.NativeIRIPrefix + t
		u.nativeTopic, u.iri = t, []string{iri}
		u.iriOK = f.native.Match(t) && !reservedResults.test(matchKey{base, "", iri}, func() bool { return reserved(iri, base) })
	}
	return u.iriOK
}

// nativeFilter is the part of native_topics a subscription can match:
// when every selector is an exact IRI (no wildcard, URL pattern or URI
// Template), only the native topics those IRIs name, so that the hub does
// not offer the stream native events it would drop; otherwise all of them.
func (f *Feature) nativeFilter(sels []selector) ssehub.Filter {
	if f.native.IsEmpty() {
		return f.native
	}
	var pats []ssehub.Pattern
	for _, s := range sels {
		if s.m.pattern == wildcard || s.m.url != nil || s.m.tpl != nil {
			return f.native
		}
		t, ok := strings.CutPrefix(s.pattern, f.opts.NativeIRIPrefix)
		if !ok {
			continue
		}
		if p, err := ssehub.ParsePattern(t); err == nil && p.Exact() && f.native.Match(t) {
			pats = append(pats, p)
		}
	}
	return ssehub.NewFilter(pats...)
}

// limitKey is who a stream counts against: an ssehub token, a JWT's
// issuer and subject, or an anonymous client (by address only).
func (f *Feature) limitKey(c *credential) *httpapi.Principal {
	switch {
	case c.hub != nil:
		return c.hub
	case c.jwt != nil && c.jwt.subject != "":
		return &httpapi.Principal{Token: auth.Token{ID: "mercure:" + c.jwt.issuer + "|" + c.jwt.subject}}
	}
	return nil
}
