package durable

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/ssehub/ssehub"
)

// validMediaType is what a Content-Type must look like to be kept; any
// other value (absent, empty, garbage) means application/octet-stream.
var validMediaType = regexp.MustCompile(`^[\w-]+/[\w.+-]+`)

// decimal is a non-negative integer without sign or leading zeros.
var decimal = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

const defaultContentType = "application/octet-stream"

// create serves PUT: a new stream, or 200 for one that exists with the same
// configuration, 409 for one that differs.
func (f *Feature) create(w http.ResponseWriter, r *http.Request, name, topic string) {
	h := r.Header
	from := h.Get("Stream-Forked-From")
	topics := []string{topic}
	var fromName, fromTopic string
	if from != "" {
		fromName = forkSource(from)
		if f.isView(fromName) {
			fail(w, http.StatusBadRequest, "Stream-Forked-From: "+quote(trim(fromName))+" is under "+f.opts.NativePath+"/, the read-only views of native topics, which cannot be forked")
			return
		}
		t, err := TopicFor(fromName)
		if err != nil {
			fail(w, http.StatusBadRequest, "Stream-Forked-From: "+err.Error())
			return
		}
		fromTopic = t
		topics = append(topics, t)
	}
	if _, ok := f.authorize(w, r, true, topics...); !ok {
		return
	}
	ct := h.Get("Content-Type")
	if !validMediaType.MatchString(ct) {
		ct = ""
		if from == "" {
			ct = defaultContentType
		}
	}
	var m createMeta
	m.ContentType = ct
	ttl, exp := h.Get("Stream-TTL"), h.Get("Stream-Expires-At")
	if ttl != "" && exp != "" {
		fail(w, http.StatusBadRequest, "Stream-TTL and Stream-Expires-At exclude each other")
		return
	}
	if ttl != "" {
		if !decimal.MatchString(ttl) {
			fail(w, http.StatusBadRequest, fmt.Sprintf("Stream-TTL %q is not a number of seconds (digits, no sign or leading zeros)", trim(ttl)))
			return
		}
		v, err := strconv.ParseInt(ttl, 10, 64)
		if err != nil || v > 1<<40 {
			fail(w, http.StatusBadRequest, fmt.Sprintf("Stream-TTL %q is too large", trim(ttl)))
			return
		}
		m.TTL = &v
	}
	if exp != "" {
		if _, err := parseExpiry(exp); err != nil {
			fail(w, http.StatusBadRequest, fmt.Sprintf("Stream-Expires-At %q is not an RFC 3339 time", trim(exp)))
			return
		}
		m.ExpiresAt = exp
	}
	m.Closed = isTrue(h.Get("Stream-Closed"))
	forkOffset := h.Get("Stream-Fork-Offset")
	subText, subSet := h["Stream-Fork-Sub-Offset"]
	var sub int64
	if from == "" && (forkOffset != "" || subSet) {
		fail(w, http.StatusBadRequest, "Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From")
		return
	}
	var forkAt uint64
	if forkOffset != "" {
		kind, id, err := parseOffset(forkOffset)
		if err != nil || kind != offsetAt {
			fail(w, http.StatusBadRequest, "Stream-Fork-Offset: malformed offset "+quote(trim(forkOffset)))
			return
		}
		forkAt = id
	}
	if subSet {
		v := ""
		if len(subText) > 0 {
			v = subText[0]
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if !decimal.MatchString(v) || err != nil {
			fail(w, http.StatusBadRequest, fmt.Sprintf("Stream-Fork-Sub-Offset %q is not a non-negative integer", trim(v)))
			return
		}
		sub = n
	}
	body, ok := f.s.ReadBody(w, r, f.opts.MaxBodyBytes)
	if !ok {
		return
	}

	e, err := f.reg.lock(r.Context(), name, topic)
	if err != nil {
		f.storeFailed(w, r, err)
		return
	}
	defer f.reg.unlock(e)
	st := &e.st
	if st.exists {
		if st.softDeleted {
			fail(w, http.StatusConflict, "the stream was deleted but forks still read from it: its name cannot be used again until they are deleted")
			return
		}
		if !sameConfig(st, &m, fromName, forkOffset, sub) {
			fail(w, http.StatusConflict, "the stream already exists with another configuration (content type, TTL, expiry, closure or fork)")
			return
		}
		f.created(w, e, http.StatusOK)
		return
	}

	events := []*ssehub.Event{nil} // the create marker, filled in below
	entries := []*entry{e}
	if from != "" {
		if fromName == name {
			// The stream being created cannot be its own source (and
			// locking it twice would deadlock the name).
			fail(w, http.StatusNotFound, "the source stream "+quote(trim(fromName))+" does not exist: it is the stream being created")
			return
		}
		src, err := f.reg.lock(r.Context(), fromName, fromTopic)
		if err != nil {
			f.storeFailed(w, r, err)
			return
		}
		defer f.reg.unlock(src)
		ss := &src.st
		switch {
		case !ss.exists:
			fail(w, http.StatusNotFound, "the source stream "+quote(trim(fromName))+" does not exist")
			return
		case ss.softDeleted:
			fail(w, http.StatusConflict, "the source stream was deleted (forks still read from it) and cannot be forked")
			return
		case ct != "" && mediaType(ct) != mediaType(ss.meta.ContentType):
			fail(w, http.StatusConflict, fmt.Sprintf("Content-Type %q differs from the source stream's %q", trim(ct), ss.meta.ContentType))
			return
		}
		if ct == "" {
			m.ContentType = ss.meta.ContentType
		}
		if forkOffset == "" {
			forkAt = ss.tail
		}
		if forkAt > ss.tail {
			fail(w, http.StatusBadRequest, "Stream-Fork-Offset is beyond the source stream's tail")
			return
		}
		fm := &forkMeta{From: fromName, Offset: forkAt, OffsetAsked: forkOffset, SubOffset: sub,
			Segments: mergeSegments(ss.segments(src.topic), forkAt)}
		m.Fork = fm
		if m.TTL == nil && m.ExpiresAt == "" {
			m.TTL, m.ExpiresAt = ss.meta.TTL, ss.meta.ExpiresAt
		}
		if sub > 0 {
			prefix, err := f.subOffsetPrefix(r, ss, src.topic, fm, sub)
			if err != nil {
				fail(w, http.StatusBadRequest, "Stream-Fork-Sub-Offset: "+err.Error())
				return
			}
			events = append(events, prefix...)
		}
		events = append(events, &ssehub.Event{Topic: src.topic, Type: typeRef, Data: []byte(`{"fork":` + quote(name) + `}`)})
		entries = append(entries, src)
	}
	data, err := dataEvents(topic, m.ContentType, body, true)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, ev := range events[1:] {
		if ev.Topic == "" {
			ev.Topic = topic
		}
	}
	events = append(events, data...)
	mj, _ := json.Marshal(m)
	events[0] = &ssehub.Event{Topic: topic, Type: typeCreate, Data: mj}
	if _, err := f.reg.commit(r.Context(), events, entries...); err != nil {
		f.storeFailed(w, r, err)
		return
	}
	w.Header().Set("Location", streamURL(r))
	f.created(w, e, http.StatusCreated)
}

// forkSource turns a Stream-Forked-From value (a path, absolute or below
// /v1/stream/) into a stream name.
func forkSource(v string) string {
	if u, ok := cutPath(v); ok {
		v = u
	}
	if u, err := url.PathUnescape(v); err == nil {
		return u // percent-encoded as in a URL path, like the stream's own name
	}
	return v
}

func cutPath(v string) (string, bool) {
	if i := strings.Index(v, Path); i >= 0 {
		return v[i+len(Path):], true
	}
	return "", false
}

// streamURL is the absolute URL of the stream r names.
func streamURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}

// created answers a create with the stream's headers.
func (f *Feature) created(w http.ResponseWriter, e *entry, status int) {
	h := w.Header()
	h.Set("Content-Type", e.st.meta.ContentType)
	h.Set("Stream-Next-Offset", formatOffset(e.st.tail))
	if e.st.closed {
		h.Set("Stream-Closed", "true")
	}
	w.WriteHeader(status)
}

// sameConfig reports whether a create request matches the stream.
func sameConfig(st *state, m *createMeta, from, forkOffset string, sub int64) bool {
	ct := m.ContentType
	if ct == "" { // a fork that inherits
		ct = st.meta.ContentType
	}
	if mediaType(ct) != mediaType(st.meta.ContentType) || m.Closed != st.closed {
		return false
	}
	f := st.meta.Fork
	if (f == nil) != (from == "") {
		return false
	}
	ttl, exp := m.TTL, m.ExpiresAt
	if f != nil {
		sameOffset := forkOffset == "" || forkOffset == f.OffsetAsked || f.OffsetAsked == "" && forkOffset == formatOffset(f.Offset)
		if f.From != from || !sameOffset || sub != f.SubOffset {
			return false
		}
		if ttl == nil && exp == "" { // inherited: compare with what was inherited
			ttl, exp = st.meta.TTL, st.meta.ExpiresAt
		}
	}
	if (ttl == nil) != (st.meta.TTL == nil) || ttl != nil && *ttl != *st.meta.TTL {
		return false
	}
	return exp == st.meta.ExpiresAt
}
