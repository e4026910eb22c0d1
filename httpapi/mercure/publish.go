package mercure

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// handlePublish serves POST /.well-known/mercure.
func (f *Feature) handlePublish(w http.ResponseWriter, r *http.Request) {
	base := f.hubURL(r)
	link(w, base, "")
	f.s.CORS().Apply(w.Header(), r)
	cred, ok := f.authenticate(w, r, f.pub, base)
	if !ok {
		return
	}
	if cred.anonymous() {
		f.bearerError(w, r, http.StatusUnauthorized, "", "publishing needs an access token: send Authorization: Bearer <token> or the "+LegacyCookieName+" cookie")
		return
	}
	if mt := httpapi.MediaType(r); mt != "application/x-www-form-urlencoded" {
		plainError(w, http.StatusUnsupportedMediaType, "an update is sent as application/x-www-form-urlencoded, not "+strconvQuote(mt))
		return
	}
	body, ok := f.s.ReadBody(w, r, f.opts.MaxBodyBytes)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		plainError(w, http.StatusBadRequest, "the body is not valid form encoding: "+err.Error())
		return
	}
	u, status, msg := f.parseUpdate(form, base)
	if status != 0 {
		plainError(w, status, msg)
		return
	}

	who := cred.hub
	switch {
	case cred.jwt != nil:
		for _, t := range u.meta.Topics {
			if !cred.jwt.may(true, []string{t}, base) {
				f.bearerError(w, r, http.StatusForbidden, "insufficient_scope", "the token does not grant publish on the topic "+strconvQuote(t))
				return
			}
		}
		who = &httpapi.Principal{Token: auth.Token{ID: "mercure:" + cred.jwt.issuer + "|" + cred.jwt.subject}}
	default:
		topics := make([]ssehub.Pattern, 0, len(u.meta.Topics))
		for _, t := range u.meta.Topics {
			topics = append(topics, ssehub.MustPattern(TopicFor(t, u.private)))
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="mercure", error="insufficient_scope"`)
		if !f.s.Permit(w, who, auth.PurposePublish, ssehub.NewFilter(topics...)) {
			return
		}
		w.Header().Del("WWW-Authenticate")
	}
	if !f.s.Limiter().AllowPublish(w, who, 1) {
		return
	}
	topic := TopicFor(u.meta.Topics[0], u.private)
	seal(&u.meta, topic, u.typ)
	metaJSON, _ := json.Marshal(metaDoc{Mercure: &u.meta})
	ev := &ssehub.Event{Topic: topic, Type: u.typ, Data: []byte(u.data), Meta: metaJSON, Source: "mercure"}
	res, err := f.s.Hub().Publish(r.Context(), []*ssehub.Event{ev})
	var gone *hub.GoneError
	switch {
	case errors.As(err, &gone):
		plainError(w, http.StatusGone, "the topic "+strconvQuote(u.meta.Topics[0])+" has been deregistered")
		return
	case err != nil:
		f.log.Error("mercure: publish", "err", err)
		plainError(w, http.StatusServiceUnavailable, "the update could not be stored; retry")
		return
	}
	id := u.meta.ID
	if id == "" {
		id = hubID(strconv.FormatUint(res[0].ID, 10) + "@" + f.s.Hub().Epoch())
	} else if err := f.ids.record(r.Context(), id, res[0].ID); err != nil {
		// The update is stored; only resuming from its id is lost.
		f.log.Error("mercure: recording the update id", "err", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(id))
}

// parsedUpdate is a publish request's update.
type parsedUpdate struct {
	meta    meta
	private bool
	data    string
	typ     string
}

// parseUpdate checks the form's fields: a status and message on error.
func (f *Feature) parseUpdate(form url.Values, base string) (parsedUpdate, int, string) {
	var u parsedUpdate
	topics := form["topic"]
	switch {
	case len(topics) == 0:
		return u, http.StatusBadRequest, "an update needs a topic field"
	case len(topics) > f.opts.MaxTopics:
		return u, http.StatusRequestEntityTooLarge, fmt.Sprintf("an update has at most %d topics", f.opts.MaxTopics)
	}
	for _, t := range topics {
		if len(t) > f.opts.MaxFieldLen {
			return u, http.StatusRequestEntityTooLarge, fmt.Sprintf("a topic is at most %d bytes", f.opts.MaxFieldLen)
		}
		if t == "" {
			return u, http.StatusBadRequest, "a topic must not be empty"
		}
		if err := checkText(t); err != nil {
			return u, http.StatusBadRequest, "the topic " + strconvQuote(t) + " " + err.Error()
		}
		if t == wildcard {
			return u, http.StatusBadRequest, `the topic "*" is reserved for the wildcard matcher`
		}
		if reserved(t, base) {
			return u, http.StatusBadRequest, "the topic " + strconvQuote(t) + " is in the hub's reserved namespace " + Path
		}
		if nt, ok := f.nativeTopicOf(t, base); ok {
			return u, http.StatusBadRequest, "the topic " + strconvQuote(t) + " is the IRI of the native topic " + strconvQuote(nt) +
				" (mercure.native_topics), which carries only events published natively: POST /publish/" + nt
		}
	}
	u.meta.Topics = topics
	_, u.private = form["private"]
	if id := form.Get("id"); id != "" {
		switch {
		case len(id) > f.opts.MaxFieldLen:
			return u, http.StatusRequestEntityTooLarge, fmt.Sprintf("an id is at most %d bytes", f.opts.MaxFieldLen)
		case strings.HasPrefix(id, "#"):
			return u, http.StatusBadRequest, `an id must not start with "#" (the hub's own ids do)`
		case id == "earliest":
			return u, http.StatusBadRequest, `"earliest" is reserved and cannot be an id`
		case checkText(id) != nil:
			return u, http.StatusBadRequest, "the id " + checkText(id).Error()
		}
		u.meta.ID = id
	}
	u.typ = form.Get("type")
	switch {
	case len(u.typ) > f.opts.MaxFieldLen:
		return u, http.StatusRequestEntityTooLarge, fmt.Sprintf("a type is at most %d bytes", f.opts.MaxFieldLen)
	case u.typ == "mercure":
		return u, http.StatusBadRequest, `the type "mercure" is reserved for the hub's subscription events`
	case checkText(u.typ) != nil:
		return u, http.StatusBadRequest, "the type " + checkText(u.typ).Error()
	}
	if rs := form.Get("retry"); rs != "" {
		n, err := strconv.ParseInt(rs, 10, 64)
		if err != nil || strings.TrimLeft(rs, "0123456789") != "" {
			return u, http.StatusBadRequest, "retry must be ASCII digits (milliseconds)"
		}
		u.meta.Retry = n
	}
	u.data = form.Get("data")
	if !utf8.ValidString(u.data) {
		return u, http.StatusBadRequest, "data is not valid UTF-8"
	}
	return u, 0, ""
}

// reserved reports whether topic, resolved against the hub's URL, names a
// path at or under the hub's own (subscription events live there), after
// removing dot segments and decoding percent-encoded unreserved characters.
func reserved(topic, base string) bool {
	b, err := url.Parse(base)
	if err != nil {
		return false
	}
	t, err := url.Parse(topic)
	if err != nil {
		return false
	}
	if underHub(b.ResolveReference(t).EscapedPath(), b.Path) {
		return true
	}
	// As a URL pattern matcher parses it (backslashes, a leading space…).
	if u := parseURL(topic, base); u != nil && underHub(u.Pathname(), b.Path) {
		return true
	}
	return false
}

// underHub reports whether the escaped path p is hubPath or below it,
// after decoding percent-encoded unreserved characters and removing dot
// segments.
func underHub(p, hubPath string) bool {
	p = decodeUnreserved(p)
	if p == "" {
		return false
	}
	p = path.Clean(p)
	return p == hubPath || strings.HasPrefix(p, hubPath+"/")
}

// decodeUnreserved decodes %XX of unreserved characters (RFC 3986 §2.3),
// leaving every other escape as is.
func decodeUnreserved(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			if v, err := strconv.ParseUint(p[i+1:i+3], 16, 8); err == nil {
				c := byte(v)
				if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
					b.WriteByte(c)
					i += 2
					continue
				}
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func strconvQuote(s string) string {
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strconv.Quote(s)
}

// nativeTopicOf returns the native topic whose IRI iri is, when it is one
// native_topics lists (or would list, for a string that is not a valid
// topic). Such IRIs carry native events only, which are private: a
// Mercure update on one, public, would show anonymous subscribers what
// looks like the native topic's event.
//
// A URL pattern matcher takes every spelling that parses to the IRI (the
// case of scheme and host, a default port, dot segments, backslashes…)
// for it, so those are native IRIs too (see nativeRemainder).
func (f *Feature) nativeTopicOf(iri, base string) (string, bool) {
	if f.native.IsEmpty() {
		return "", false
	}
	if t, ok := strings.CutPrefix(iri, f.opts.NativeIRIPrefix); ok && f.native.Match(t) {
		return t, true
	}
	t, ok := f.nativeRemainder(iri, base)
	return t, ok && f.native.Match(t)
}
