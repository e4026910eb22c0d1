package durable

import (
	"context"
	"encoding/base64"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/ssehub/ssehub/httpapi"
)

// snapshot is what a reader takes of a stream (registry.view).
type snapshot struct {
	exists, softDeleted bool
	meta                createMeta
	gen                 uint64
	segs                []segment
	tail                uint64
	closed              bool
	changed             <-chan struct{}
	// view: a native topic's view (native.go): every event of its topic is
	// data, its tail is the topic's newest event, and nothing is cached.
	view bool
}

func (sn *snapshot) ct() string { return sn.meta.ContentType }

// snap takes a snapshot of name, touching its TTL when touch is set; a
// view's (name under the native path, topic the native topic) is read from
// the topic each time.
func (f *Feature) snap(ctx context.Context, name, topic string, touch bool) (snapshot, error) {
	if f.isView(name) {
		return f.viewSnap(ctx, topic)
	}
	return f.reg.view(ctx, name, topic, touch)
}

// public reports whether a read of name may go without a token.
func (f *Feature) public(name string) bool {
	if f.isView(name) {
		return f.opts.NativePublicRead
	}
	return f.opts.PublicRead
}

// readParams are a GET's query parameters.
type readParams struct {
	kind   offsetKind
	after  uint64
	text   string // the offset as sent, "-1" when absent
	live   string
	cursor string
}

func parseRead(r *http.Request) (readParams, string) {
	q := r.URL.Query()
	p := readParams{text: "-1", live: q.Get("live"), cursor: q.Get("cursor")}
	offs, set := q["offset"]
	switch {
	case len(offs) > 1:
		return p, "send one offset parameter, not several"
	case set && offs[0] == "":
		return p, "the offset parameter is empty: send -1, now or an offset the server returned"
	case set:
		kind, id, err := parseOffset(offs[0])
		if err != nil {
			return p, err.Error()
		}
		p.kind, p.after, p.text = kind, id, offs[0]
	}
	switch p.live {
	case "", "long-poll", "sse":
	default:
		return p, "live must be long-poll or sse, not " + quote(trim(p.live))
	}
	if p.live != "" && !set {
		return p, "live=" + p.live + " needs an offset: -1, now or one the server returned"
	}
	return p, ""
}

func (f *Feature) cursor(client string) string {
	return responseCursor(time.Now(), client, func() int64 { return rand.Int64N(3600) })
}

// read serves GET: catch-up, long-poll or SSE.
func (f *Feature) read(w http.ResponseWriter, r *http.Request, name, topic string) {
	who, ok := f.authorizeAs(w, r, false, f.public(name), topic)
	if !ok {
		return
	}
	p, bad := parseRead(r)
	if bad != "" {
		fail(w, http.StatusBadRequest, bad)
		return
	}
	if p.live == "sse" {
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			// A plain EventSource reconnecting: the id is the offset of
			// the last control event it saw.
			if kind, after, err := parseOffset(id); err == nil && kind == offsetAt {
				p.kind, p.after, p.text = kind, after, id
			}
		}
	}
	sn, err := f.snap(r.Context(), name, topic, true)
	if err != nil {
		f.storeFailed(w, r, err)
		return
	}
	if !f.found(w, name, sn) {
		return
	}
	if who != nil && !who.Admin {
		// A fork reads its sources' topics: the token must cover them
		// too, as forking needed (a create marker written the native way
		// can name any stream as its source).
		for _, g := range sn.segs {
			if !who.Scope().Match(g.Topic) {
				fail(w, http.StatusForbidden, "this stream is a fork of a stream outside the token's scope")
				return
			}
		}
	}
	switch p.kind {
	case offsetStart:
		p.after = 0
	case offsetNow:
		p.after = sn.tail
	case offsetAt:
		if !f.retained(w, r, p.after, sn) {
			return
		}
	}
	if p.live == "sse" {
		f.sse(w, r, who, name, topic, p, sn)
		return
	}
	h := w.Header()
	if p.kind == offsetNow && p.live == "" {
		h.Set("Content-Type", sn.ct())
		h.Set("Stream-Next-Offset", formatOffset(sn.tail))
		h.Set("Stream-Up-To-Date", "true")
		h.Set("Cache-Control", "no-store")
		if sn.closed {
			h.Set("Stream-Closed", "true")
		}
		w.WriteHeader(http.StatusOK)
		if isJSON(sn.ct()) {
			_, _ = w.Write([]byte("[]"))
		}
		return
	}
	c, err := f.readChunk(r.Context(), sn.segs, p.after, sn.tail, f.opts.MaxReadBytes)
	if err != nil {
		f.storeFailed(w, r, err)
		return
	}
	if p.live == "long-poll" && len(c.items) == 0 && (p.after >= sn.tail || sn.view) {
		var ok bool
		if sn, c, ok = f.longPoll(w, r, who, name, topic, p, sn); !ok {
			return
		}
	}
	next := p.after
	if c.last > 0 {
		next = c.last
	} else if next < sn.tail && !c.full && !sn.view {
		next = sn.tail // only markers or other topics' ids in between
	}
	upToDate := !c.full
	closedNow := sn.closed && upToDate
	h.Set("Content-Type", sn.ct())
	h.Set("Stream-Next-Offset", formatOffset(next))
	if upToDate {
		h.Set("Stream-Up-To-Date", "true")
	}
	if closedNow {
		h.Set("Stream-Closed", "true")
	}
	if p.live == "long-poll" && !closedNow {
		h.Set("Stream-Cursor", f.cursor(p.cursor))
	}
	cache := "private"
	if f.public(name) {
		cache = "public"
	}
	h.Set("Cache-Control", cache+", max-age=60, stale-while-revalidate=300")
	etag := `"` + base64.RawURLEncoding.EncodeToString([]byte(name)) + ":" + p.text + ":" + formatOffset(next)
	if closedNow {
		etag += ":c"
	}
	etag += `"`
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(c.body(sn.ct()))
}

// retained answers 410 for a read from an offset whose next data the
// store's retention has removed (storage.retention applies to these
// topics too). A read from -1 starts at the oldest data retained.
func (f *Feature) retained(w http.ResponseWriter, r *http.Request, after uint64, sn snapshot) bool {
	if after >= sn.tail || len(sn.segs) == 0 {
		return true
	}
	pos, err := f.s.Hub().Bounds(r.Context())
	if err != nil {
		f.storeFailed(w, r, err)
		return false
	}
	if max(after, sn.segs[0].After)+1 < pos.First {
		fail(w, http.StatusGone, "the data after this offset is no longer retained (storage.retention); read from -1 for what is")
		return false
	}
	return true
}

// found answers 404 or 410 for a stream that is not there.
func (f *Feature) found(w http.ResponseWriter, name string, sn snapshot) bool {
	switch {
	case !sn.exists:
		fail(w, http.StatusNotFound, "no stream "+quote(trim(name)))
		return false
	case sn.softDeleted:
		fail(w, http.StatusGone, "the stream was deleted")
		return false
	}
	return true
}

// longPoll waits for data past p.after: it returns the new snapshot and
// chunk, or answers 204 (timeout, closed) or an error itself and returns
// false.
func (f *Feature) longPoll(w http.ResponseWriter, r *http.Request, who *httpapi.Principal, name, topic string, p readParams, sn snapshot) (snapshot, chunk, bool) {
	release, ok := f.s.Limiter().OpenStream(w, r, who)
	if !ok {
		return sn, chunk{}, false
	}
	defer release()
	guarded, stopGuard, err := f.guard(r.Context(), who) // ends with the token's revocation or expiry
	if err != nil {
		httpapi.WriteError(w, http.StatusUnauthorized, httpapi.CodeUnauthorized, "the token is revoked or expired")
		return sn, chunk{}, false
	}
	defer stopGuard()
	if sn.view {
		// A view's wake-ups come from its topic's watch, held from here;
		// what came before it is read once more.
		rel, sn2, err := f.holdView(r.Context(), topic)
		if err != nil {
			f.storeFailed(w, r, err)
			return sn, chunk{}, false
		}
		defer rel()
		sn = sn2
		c, err := f.readChunk(r.Context(), sn.segs, p.after, sn.tail, f.opts.MaxReadBytes)
		if err != nil {
			f.storeFailed(w, r, err)
			return sn, chunk{}, false
		}
		if len(c.items) > 0 {
			return sn, c, true
		}
	}
	timer := time.NewTimer(f.opts.LongPollTimeout)
	defer timer.Stop()
	tick, stop := f.ticker() // appends made on other nodes
	defer stop()
	h := w.Header()
	for {
		if sn.closed && p.after >= sn.tail {
			h.Set("Stream-Next-Offset", formatOffset(sn.tail))
			h.Set("Stream-Up-To-Date", "true")
			h.Set("Stream-Closed", "true")
			w.WriteHeader(http.StatusNoContent)
			return sn, chunk{}, false
		}
		select {
		case <-sn.changed:
		case <-tick:
		case <-timer.C:
			next := max(p.after, sn.tail)
			if sn.view {
				next = p.after // nothing of the topic read past it
			}
			h.Set("Stream-Next-Offset", formatOffset(next))
			h.Set("Stream-Up-To-Date", "true")
			h.Set("Stream-Cursor", f.cursor(p.cursor))
			w.WriteHeader(http.StatusNoContent)
			return sn, chunk{}, false
		case <-guarded.Done():
			if r.Context().Err() == nil {
				httpapi.WriteError(w, http.StatusUnauthorized, httpapi.CodeUnauthorized, "the token was revoked or expired during the long-poll")
			}
			return sn, chunk{}, false
		case <-f.s.Context().Done():
			h.Set("Retry-After", "1")
			fail(w, http.StatusServiceUnavailable, "the hub is shutting down")
			return sn, chunk{}, false
		}
		sn, err = f.snap(r.Context(), name, topic, true)
		if err != nil {
			f.storeFailed(w, r, err)
			return sn, chunk{}, false
		}
		if !f.found(w, name, sn) {
			return sn, chunk{}, false
		}
		c, err := f.readChunk(r.Context(), sn.segs, p.after, sn.tail, f.opts.MaxReadBytes)
		if err != nil {
			f.storeFailed(w, r, err)
			return sn, chunk{}, false
		}
		if len(c.items) > 0 {
			return sn, c, true
		}
	}
}
