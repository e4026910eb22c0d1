package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/hub"
)

// Page limits for the JSON history a subscribe URL returns.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

var errPageFull = errors.New("page full")

// servePage answers a subscribe URL asked for JSON: a page of history
// {"events":[envelope…],"next":"<id>"} after ?after= (default: from the
// oldest retained event), at most ?limit= events. next is the id to pass as
// after for the following page.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request, sub *subscription) {
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, codeBadID, fmt.Sprintf("after %q is not an event id", v))
			return
		}
		after = n
	}
	limit := defaultPageLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageLimit {
			writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", maxPageLimit))
			return
		}
		limit = n
	}
	_, head := s.hub.Log().Bounds()
	out := make([]byte, 0, 4096)
	out = append(out, `{"events":[`...)
	n := 0
	next := after
	err := s.hub.Log().Read(r.Context(), after, sub.match, func(ev *ssehub.Event) error {
		if n > 0 {
			out = append(out, ',')
		}
		out = hub.AppendEnvelope(out, ev)
		next = ev.ID
		n++
		if n >= limit {
			return errPageFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		writeError(w, http.StatusInternalServerError, codeInternal, "reading the log failed")
		s.Logger.Error("page read", "err", err)
		return
	}
	if n < limit && head > next {
		next = head // everything up to the head was scanned
	}
	out = append(out, `],"next":"`...)
	out = strconv.AppendUint(out, next, 10)
	out = append(out, "\"}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Vary", "Accept")
	_, _ = w.Write(out)
}
