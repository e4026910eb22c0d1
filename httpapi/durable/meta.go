package durable

import (
	"encoding/base64"
	"net/http"
	"strconv"
)

// head serves HEAD: the stream's metadata. It does not touch the TTL.
func (f *Feature) head(w http.ResponseWriter, r *http.Request, name, topic string) {
	if _, ok := f.authorize(w, r, false, topic); !ok {
		return
	}
	st, err := f.reg.view(r.Context(), name, topic, false)
	if err != nil {
		f.storeFailed(w, r, err)
		return
	}
	h := w.Header()
	switch {
	case !st.exists:
		w.WriteHeader(http.StatusNotFound)
		return
	case st.softDeleted:
		w.WriteHeader(http.StatusGone)
		return
	}
	h.Set("Content-Type", st.meta.ContentType)
	h.Set("Stream-Next-Offset", formatOffset(st.tail))
	h.Set("Cache-Control", "no-store")
	etag := `"` + base64.RawURLEncoding.EncodeToString([]byte(name)) + ":-1:" + formatOffset(st.tail)
	if st.closed {
		h.Set("Stream-Closed", "true")
		etag += ":c"
	}
	h.Set("ETag", etag+`"`)
	if st.meta.TTL != nil {
		h.Set("Stream-TTL", strconv.FormatInt(*st.meta.TTL, 10))
	}
	if st.meta.ExpiresAt != "" {
		h.Set("Stream-Expires-At", st.meta.ExpiresAt)
	}
	w.WriteHeader(http.StatusOK)
}

// delete serves DELETE: soft while forks read from the stream, else for
// good (and a fork's source it kept soft-deleted goes with it).
func (f *Feature) delete(w http.ResponseWriter, r *http.Request, name, topic string) {
	if _, ok := f.authorize(w, r, true, topic); !ok {
		return
	}
	e, err := f.reg.lock(r.Context(), name, topic)
	if err != nil {
		f.storeFailed(w, r, err)
		return
	}
	defer f.reg.unlock(e)
	switch {
	case !e.st.exists:
		fail(w, http.StatusNotFound, "no stream "+quote(trim(name)))
		return
	case e.st.softDeleted:
		fail(w, http.StatusGone, "the stream was deleted")
		return
	}
	if err := f.reg.remove(r.Context(), e); err != nil {
		f.storeFailed(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
