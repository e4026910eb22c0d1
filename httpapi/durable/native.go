package durable

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi"
)

// Views of native topics: a topic that Options.NativeTopics matches, and
// that no protocol owns, reads as the JSON stream NativePath/<topic>
// (/v1/stream/_topics/orders.created), with the same offsets, catch-up,
// long-poll and SSE as a real stream. A view's state lives nowhere: it is
// the topic's events, nothing is written for it, and it exists exactly
// while the configuration matches the topic (one with no events yet is an
// empty stream). It is never closed, has no TTL, and refuses writes.

// DefaultNativePath is the default Options.NativePath.
const DefaultNativePath = "_topics"

// viewContentType is every view's content type: each event is one message.
const viewContentType = "application/json"

// reservedTokens are the first tokens of the topics a protocol owns, which
// a view must never expose: a Durable Stream's own topic (its markers and
// producer state, readable as the stream it is, with its own rules), and
// Mercure's updates (mercure_private.* only to subscribers authorized for
// them, by Mercure's rules).
var reservedTokens = []string{TopicPrefix, "mercure", "mercure_private"}

// reservedTopic reports whether topic is under a protocol's prefix.
func reservedTopic(topic string) bool {
	first, _, _ := strings.Cut(topic, ".")
	for _, t := range reservedTokens {
		if first == t {
			return true
		}
	}
	return false
}

// NativeFilter parses Options.NativeTopics: ssehub patterns ("orders.*",
// "audit.login"), none of which may match a protocol's topic: "*", and any
// pattern whose first token is ds, mercure or mercure_private, is refused.
func NativeFilter(patterns []string) (ssehub.Filter, error) {
	pats := make([]ssehub.Pattern, 0, len(patterns))
	for _, s := range patterns {
		p, err := ssehub.ParsePattern(s)
		if err != nil {
			return ssehub.Filter{}, fmt.Errorf("native_topics: %w", err)
		}
		if s == "*" {
			return ssehub.Filter{}, fmt.Errorf("native_topics: %q would expose the topics of ds.*, mercure.* and mercure_private.*: list the prefixes to expose (\"orders.*\")", s)
		}
		if reservedTopic(strings.TrimSuffix(s, ".*")) {
			return ssehub.Filter{}, fmt.Errorf("native_topics: %q is under a protocol's reserved prefix (ds, mercure, mercure_private): those topics are read through their own protocol and its rules", s)
		}
		pats = append(pats, p)
	}
	return ssehub.NewFilter(pats...), nil
}

// maxNativePath bounds Options.NativePath.
const maxNativePath = 128

// ValidateNativePath checks Options.NativePath: '/'-separated segments of
// ASCII letters, digits, '_', '-' and '.', none empty, "." or "..", at
// most 128 bytes, so the prefix is one plain URL path that no client can
// spell another way.
func ValidateNativePath(p string) error {
	if p == "" || len(p) > maxNativePath {
		return fmt.Errorf("native_path %q: must be 1 to %d bytes", trim(p), maxNativePath)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("native_path %q: empty, \".\" and \"..\" segments are not allowed (no leading or trailing '/')", p)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
				return fmt.Errorf("native_path %q: %q is not allowed (letters, digits, '_', '-', '.' and '/')", p, rune(c))
			}
		}
	}
	return nil
}

// underNative reports whether the stream name is the reserved prefix or
// below it, and the rest of the name after "prefix/".
func (f *Feature) underNative(name string) (string, bool) {
	p := f.opts.NativePath
	if name == p {
		return "", true
	}
	return strings.CutPrefix(name, p+"/")
}

// isView reports whether name is under the reserved prefix.
func (f *Feature) isView(name string) bool {
	_, ok := f.underNative(name)
	return ok
}

// exposed reports whether topic has a view.
func (f *Feature) exposed(topic string) bool {
	return ssehub.ValidateTopic(topic) == nil && !reservedTopic(topic) && f.native.Match(topic)
}

// serveView serves a request under the reserved prefix: reads of an
// exposed topic; 405 (Allow: GET, HEAD) for every write, whatever the
// name, as the protocol says of a stream that takes no appends or deletes
// (and a PUT there would create a stream a view could shadow).
func (f *Feature) serveView(w http.ResponseWriter, r *http.Request, name, topic string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		fail(w, http.StatusMethodNotAllowed, quote(trim(f.opts.NativePath+"/"))+" holds read-only views of native topics: nothing under it can be created, appended to, closed or deleted")
		return
	}
	if topic != "" {
		if err := ssehub.ValidateTopic(topic); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadTopic, "a view's name is "+f.opts.NativePath+"/ and an ssehub topic: "+err.Error())
			return
		}
	}
	if !f.exposed(topic) {
		// Authorized first, as for a stream that does not exist.
		if _, ok := f.authorizeAs(w, r, false, f.opts.NativePublicRead, viewAuthTopic(topic)); !ok {
			return
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		fail(w, http.StatusNotFound, "no stream "+quote(trim(name))+": durable_streams.native_topics does not expose this topic")
		return
	}
	if r.Method == http.MethodHead {
		f.headView(w, r, name, topic)
		return
	}
	f.read(w, r, name, topic)
}

// viewAuthTopic is the topic a request for an unexposed view is authorized
// for: the topic, or, for the bare prefix, a topic no scope holds but "*".
func viewAuthTopic(topic string) string {
	if topic == "" {
		return "_"
	}
	return topic
}

// headView serves HEAD of a view.
func (f *Feature) headView(w http.ResponseWriter, r *http.Request, name, topic string) {
	if _, ok := f.authorizeAs(w, r, false, f.opts.NativePublicRead, topic); !ok {
		return
	}
	sn, err := f.viewSnap(r.Context(), topic)
	if err != nil {
		f.storeFailed(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", viewContentType)
	h.Set("Stream-Next-Offset", formatOffset(sn.tail))
	h.Set("Cache-Control", "no-store")
	h.Set("ETag", `"`+base64.RawURLEncoding.EncodeToString([]byte(name))+":-1:"+formatOffset(sn.tail)+`"`)
	w.WriteHeader(http.StatusOK)
}

// viewSnap returns a view's snapshot: its tail is the topic's newest
// retained event; changed is the topic's watch's, when a live read holds
// one (taken before the tail is read, so no event falls between).
func (f *Feature) viewSnap(ctx context.Context, topic string) (snapshot, error) {
	sn := snapshot{exists: true, view: true, meta: createMeta{ContentType: viewContentType},
		segs: []segment{{Topic: topic, native: true}}, changed: f.watches.changed(topic)}
	ti, err := f.s.Hub().Topic(ctx, topic)
	switch {
	case errors.Is(err, ssehub.ErrNotFound):
	case err != nil:
		return snapshot{}, err
	default:
		sn.tail = ti.LastID
	}
	return sn, nil
}

// viewCoder turns native events' data into JSON messages (message),
// reusing one buffer: a message is valid until the next call.
type viewCoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// message returns data as one JSON message: the data itself (compacted)
// when it is valid JSON in UTF-8, else the data as a JSON string (bytes
// that are not UTF-8 become U+FFFD).
func (vc *viewCoder) message(data []byte) []byte {
	vc.buf.Reset()
	if utf8.Valid(data) && json.Compact(&vc.buf, data) == nil { // Compact validates as it goes
		return vc.buf.Bytes()
	}
	vc.buf.Reset()
	if vc.enc == nil {
		vc.enc = json.NewEncoder(&vc.buf)
		vc.enc.SetEscapeHTML(false)
	}
	_ = vc.enc.Encode(string(data))
	return bytes.TrimSuffix(vc.buf.Bytes(), []byte("\n"))
}

// holdView holds the watch of a view's topic for a live read and returns
// its release and a new snapshot, taken under it: an event that came
// before the hold is in the log for the next read, one that comes after it
// wakes the read.
func (f *Feature) holdView(ctx context.Context, topic string) (func(), snapshot, error) {
	rel, err := f.watches.hold(f.s.Hub(), f.s.Context(), topic)
	if err != nil {
		return nil, snapshot{}, err
	}
	sn, err := f.viewSnap(ctx, topic)
	if err != nil {
		rel()
		return nil, snapshot{}, err
	}
	return rel, sn, nil
}

// warnShadowed logs a warning when the log holds streams whose names are
// under the reserved prefix (made before it was reserved, or before
// native_path was changed to it): they can no longer be reached at
// /v1/stream/. Two lookups in the store's per-topic records: the stream
// named the prefix itself, and the first topic after "<its topic>.".
func (f *Feature) warnShadowed(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pt, err := TopicFor(f.opts.NativePath)
	if err != nil {
		return
	}
	h := f.s.Hub()
	var found string
	if _, err := h.Topic(ctx, pt); err == nil {
		found = pt
	} else if ts, err := h.Topics(ctx, pt+".", 1); err == nil && len(ts) > 0 && strings.HasPrefix(ts[0].Topic, pt+".") {
		found = ts[0].Topic
	}
	if found != "" {
		name, _ := NameFor(found)
		f.s.Logger().Warn("durable_streams.native_path is reserved for views of native topics, but the log holds a stream under it, which "+Path+" no longer serves (its events are still on its topic)",
			"native_path", f.opts.NativePath, "stream", name, "topic", found)
	}
}
