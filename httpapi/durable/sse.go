package durable

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/ssehub/ssehub/httpapi"
)

// control is the data of an SSE control event.
type control struct {
	NextOffset string `json:"streamNextOffset"`
	Cursor     string `json:"streamCursor,omitempty"`
	UpToDate   bool   `json:"upToDate,omitempty"`
	Closed     bool   `json:"streamClosed,omitempty"`
}

// sse serves live=sse: each batch of data as an "event: data", followed by
// an "event: control" with the offset after it (also its SSE id, so a
// plain EventSource resumes where it was with Last-Event-ID); a control
// event every LongPollTimeout while idle; the end after SSEMaxDuration, or
// with the control event that says the stream is closed, or when who's
// token expires.
func (f *Feature) sse(w http.ResponseWriter, r *http.Request, who *httpapi.Principal, name, topic string, p readParams, sn snapshot) {
	release, ok := f.s.Limiter().OpenStream(w, r, who)
	if !ok {
		return
	}
	defer release()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	if !isText(sn.ct()) {
		h.Set("Stream-SSE-Data-Encoding", "base64")
	}
	ctx, stopGuard, err := f.guard(r.Context(), who) // ends with the token's revocation or expiry
	if err != nil {
		httpapi.WriteError(w, http.StatusUnauthorized, httpapi.CodeUnauthorized, "the token is revoked or expired")
		return
	}
	defer stopGuard()
	if sn.view {
		// A view's wake-ups come from its topic's watch, held from here;
		// the snapshot is taken again under it.
		rel, sn2, err := f.holdView(ctx, topic)
		if err != nil {
			f.storeFailed(w, r, err)
			return
		}
		defer rel()
		sn = sn2
	}
	w.WriteHeader(http.StatusOK)
	maxDur := f.opts.SSEMaxDuration
	if who != nil && !who.Admin && !who.Token.ExpiresAt.IsZero() {
		maxDur = min(maxDur, time.Until(who.Token.ExpiresAt))
	}
	end := time.NewTimer(maxDur)
	defer end.Stop()
	idle := time.NewTimer(f.opts.LongPollTimeout)
	defer idle.Stop()
	tick, stop := f.ticker()
	defer stop()
	after := p.after
	var buf []byte
	flush := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(f.opts.WriteTimeout))
		if _, err := w.Write(buf); err != nil {
			return false
		}
		buf = buf[:0]
		return rc.Flush() == nil
	}
	first := true
	for {
		c, err := f.readChunk(ctx, sn.segs, after, sn.tail, f.opts.MaxReadBytes)
		if err != nil {
			return
		}
		if len(c.items) > 0 {
			buf = appendEvent(buf, "data", c.sseData(sn.ct()), "")
			after = c.last
		} else if !c.full && after < sn.tail && !sn.view {
			after = sn.tail
		}
		upToDate := !c.full
		if len(c.items) > 0 || first {
			ctl := control{NextOffset: formatOffset(after)}
			if sn.closed && upToDate {
				ctl.Closed = true
			} else {
				ctl.Cursor = f.cursor(p.cursor)
				ctl.UpToDate = upToDate
			}
			buf = appendControl(buf, ctl)
			if !flush() || ctl.Closed {
				return
			}
			first = false
		}
		if !upToDate {
			continue
		}
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(f.opts.LongPollTimeout)
	wait:
		for {
			select {
			case <-sn.changed:
				break wait
			case <-tick: // appends made on other nodes
				sn2, err := f.snap(ctx, name, topic, false)
				if err != nil {
					return
				}
				if sn2.tail != sn.tail || sn2.closed != sn.closed || !sn2.exists || sn2.softDeleted {
					break wait
				}
				sn.changed = sn2.changed
			case <-idle.C:
				buf = appendControl(buf, control{NextOffset: formatOffset(after), Cursor: f.cursor(p.cursor), UpToDate: true})
				if !flush() {
					return
				}
				idle.Reset(f.opts.LongPollTimeout)
			case <-end.C:
				return
			case <-ctx.Done():
				return
			case <-f.s.Context().Done():
				return
			}
		}
		sn, err = f.snap(ctx, name, topic, true)
		if err != nil || !sn.exists || sn.softDeleted {
			return
		}
		if sn.closed && after >= sn.tail {
			buf = appendControl(buf, control{NextOffset: formatOffset(after), Closed: true})
			flush()
			return
		}
	}
}

// appendControl appends a control event with the offset as its SSE id.
func appendControl(buf []byte, c control) []byte {
	data, _ := json.Marshal(c)
	return appendEvent(buf, "control", data, c.NextOffset)
}

// appendEvent appends one SSE event: the event line, a data line per line
// of data (split at CR, LF and CRLF, so no payload can end the event or
// start another), then the id line when id is set. A data line is
// "data:" and the line, with a space between only when the line starts
// with one (the client strips one leading space), so the client rebuilds
// the data byte for byte but for its line breaks, which become LF. The
// protocol's suite expects exactly this layout: "event: control" followed
// by "data:{...}".
func appendEvent(buf []byte, typ string, data []byte, id string) []byte {
	buf = append(buf, "event: "...)
	buf = append(buf, typ...)
	buf = append(buf, '\n')
	for {
		i := bytes.IndexAny(data, "\r\n")
		line := data
		if i >= 0 {
			line = data[:i]
		}
		buf = append(buf, "data:"...)
		if len(line) > 0 && line[0] == ' ' {
			buf = append(buf, ' ')
		}
		buf = append(buf, line...)
		buf = append(buf, '\n')
		if i < 0 {
			break
		}
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	if id != "" {
		buf = append(buf, "id: "...)
		buf = append(buf, id...)
		buf = append(buf, '\n')
	}
	return append(buf, '\n')
}
