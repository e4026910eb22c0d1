package stream

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/envelope"
	"github.com/ssehub/ssehub/httpapi"
)

// defaultPageEvents is a page's size without ?limit=.
const defaultPageEvents = 100

// pageChunk is how much of a page is read from the store before it is
// written.
const pageChunk = 32 << 10

var errPageFull = errors.New("page full")

// servePage answers a subscribe URL asked for JSON: a page of history
//
//	{"events":[envelope…],"next":"<id>"}
//
// after ?after= (default: from the oldest retained event), at most ?limit=
// events and at most MaxPageBytes bytes of events (a page holds one event
// at least, however large). next is the id to pass as after for the
// following page; a page without events is the end, for now. The page is written as it is read, so a page of big
// events never sits in memory whole. A live-only stream (replay: false)
// has no history: 406.
func (f *Feature) servePage(w http.ResponseWriter, r *http.Request, req *request) {
	if !req.endpoint.Replay {
		httpapi.WriteError(w, http.StatusNotAcceptable, httpapi.CodeNotAccept,
			"this stream is live only (replay: false): it has no history to page; ask for text/event-stream")
		return
	}
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadID, fmt.Sprintf("after %.40q is not an event id", v))
			return
		}
		after = n
	}
	limit := min(defaultPageEvents, f.opts.MaxPageEvents)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > f.opts.MaxPageEvents {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", f.opts.MaxPageEvents))
			return
		}
		limit = n
	}
	h := f.s.Hub()
	pos, err := h.Bounds(r.Context())
	if err != nil {
		f.s.Logger().Error("page bounds", "err", err)
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "the store cannot serve history now")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Vary", "Accept")
	rc := http.NewResponseController(w)
	// Events are read into buf, at most pageChunk (or one event) at a
	// time, and written once the store's read has returned: a store may
	// hold a read transaction while it calls fn (bolt does), and a client
	// that takes nothing must not hold it, and with it the store's
	// writers, for as long as it stays connected. Each write is bounded by
	// the write timeout.
	buf := make([]byte, 0, pageChunk+4096)
	buf = append(buf, `{"events":[`...)
	n, written, next := 0, 0, after
	full, sent := false, false
	for {
		more := false // buf is full: write it, then read on
		err = h.History(r.Context(), next, req.opts.Filter, func(ev *ssehub.Event) error {
			start := len(buf)
			if n > 0 {
				buf = append(buf, ',')
			}
			buf = envelope.Append(buf, ev)
			size := len(buf) - start
			if n > 0 && written+size > f.opts.MaxPageBytes {
				// It would take the page past its bound: it starts the next one.
				buf = buf[:start]
				full = true
				return errPageFull
			}
			written += size
			next = ev.ID
			n++
			switch {
			case n >= limit || written >= f.opts.MaxPageBytes:
				full = true
				return errPageFull
			case len(buf) >= pageChunk:
				more = true
				return errPageFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errPageFull) {
			if !sent && n == 0 {
				f.s.Logger().Error("page read", "err", err)
				w.Header().Del("Vary")
				httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "reading the log failed")
				return
			}
			if r.Context().Err() == nil {
				f.s.Logger().Error("page read", "err", err)
			}
			// Part of the page is read: end it cleanly where the read
			// stopped, so next resumes exactly there.
			full = true
			break
		}
		if !more || full {
			break
		}
		if !f.writePage(w, rc, buf) {
			return // the client is gone or takes nothing
		}
		sent = true
		buf = buf[:0]
	}
	if !full && pos.Head > next {
		next = pos.Head // everything up to the head was scanned
	}
	buf = append(buf, `],"next":"`...)
	buf = strconv.AppendUint(buf, next, 10)
	buf = append(buf, "\"}\n"...)
	if f.writePage(w, rc, buf) {
		_ = rc.Flush()
	}
}

// writePage writes part of a page within the write timeout.
func (f *Feature) writePage(w http.ResponseWriter, rc *http.ResponseController, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(f.opts.WriteTimeout))
	_, err := w.Write(b)
	return err == nil
}
