package durable

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/ssehub/ssehub/httpapi"
)

// settleRequest is the body of a callback, ack or release.
type settleRequest struct {
	WakeID     string `json:"wake_id"`
	Generation uint64 `json:"generation"`
	Acks       []struct {
		Stream string `json:"stream"`
		Path   string `json:"path"`
		Offset string `json:"offset"`
	} `json:"acks"`
	Done bool `json:"done"`
}

// bearer returns r's Authorization: Bearer value.
func bearer(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// settle serves a webhook callback and a pull-wake ack or release: a
// token of the subscription's current wake (section 7.3: token, its
// generation, the request's generation and wake_id must all be current,
// else 409 FENCED), then the acks, then done or release ends the wake and
// makes the next one if work is pending.
func (m *subManager) settle(w http.ResponseWriter, r *http.Request, id, action string) {
	tok := bearer(r)
	if tok == "" {
		httpapi.WriteError(w, http.StatusUnauthorized, httpapi.CodeUnauthorized, "send the wake's token as Authorization: Bearer <token>")
		return
	}
	var q settleRequest
	if !m.readJSON(w, r, &q) {
		return
	}
	ctx := r.Context()
	s, err := m.lock(ctx, id)
	if err != nil {
		m.failed(w, r, err)
		return
	}
	defer m.unlock(id, s)
	rec := s.rec
	if rec == nil {
		httpapi.WriteError(w, http.StatusNotFound, codeSubNotFound, "no subscription "+quote(id))
		return
	}
	switch {
	case action == "callback" && rec.Config.Type != "webhook":
		fail(w, http.StatusBadRequest, "callback is for webhook subscriptions; pull-wake workers use ack and release")
		return
	case action != "callback" && rec.Config.Type != "pull-wake":
		fail(w, http.StatusBadRequest, action+" is for pull-wake subscriptions; webhooks use callback")
		return
	}
	now := m.now()
	claims, err := m.keys.verify(tok, rec, now)
	if err != nil {
		code := codeTokenInvalid
		if errors.Is(err, errTokenExpired) {
			code = codeTokenExpired
		}
		httpapi.WriteError(w, http.StatusUnauthorized, code, err.Error())
		return
	}
	if rec.leaseOver(now) {
		// The lease ran out before the tick saw it: the holder lost the
		// wake then, so its request is fenced, as after the tick.
		m.expire(ctx, s)
		if err := m.save(ctx, s); err != nil {
			m.failed(w, r, err)
			return
		}
		m.queueDue(id, s)
	}
	if !current(rec, claims, &q) {
		httpapi.WriteError(w, http.StatusConflict, codeFenced, "the wake's generation is stale: a newer wake, or none, is current")
		return
	}
	if action == "release" {
		rec.clearWake()
		if _, err := m.wakeIfIdle(ctx, s); err != nil {
			m.failed(w, r, err)
			return
		}
		if err := m.save(ctx, s); err != nil {
			m.failed(w, r, err)
			return
		}
		m.kickWatcher()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if msg := m.applyAcks(ctx, rec, &q); msg != "" {
		httpapi.WriteError(w, http.StatusConflict, codeInvalidOffset, msg)
		return
	}
	next := false
	if q.Done {
		rec.clearWake()
		if next, err = m.wakeIfIdle(ctx, s); err != nil {
			m.failed(w, r, err)
			return
		}
	} else {
		rec.LeaseUntil = now.Add(rec.Config.leaseTTL()) // a heartbeat
	}
	if err := m.save(ctx, s); err != nil {
		m.failed(w, r, err)
		return
	}
	if next {
		m.kickWatcher()
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true, "next_wake": next})
}

// current reports whether a token and request are of rec's current wake.
func current(rec *subRecord, c *wakeClaims, q *settleRequest) bool {
	if rec.WakeID == "" || c.Gen != rec.Generation || q.Generation != rec.Generation {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Wake), []byte(rec.WakeID)) == 1 &&
		subtle.ConstantTimeCompare([]byte(q.WakeID), []byte(rec.WakeID)) == 1
}

// applyAcks checks every ack (a linked stream, an offset not before its
// cursor nor past its tail) and only then moves the cursors; it returns
// the refusal, or "".
func (m *subManager) applyAcks(ctx context.Context, rec *subRecord, q *settleRequest) string {
	if len(q.Acks) > m.opts.MaxStreams {
		return "more acks than the subscription links streams"
	}
	type move struct {
		l  *subLink
		id uint64
	}
	moves := make([]move, 0, len(q.Acks))
	for _, a := range q.Acks {
		p := a.Stream
		if p == "" {
			p = a.Path
		}
		p = strings.Trim(p, "/")
		l := rec.Links[p]
		if l == nil {
			return "the ack names " + quote(trim(p)) + ", which the subscription does not link"
		}
		kind, id, err := parseOffset(a.Offset)
		if err != nil || kind != offsetAt {
			return "the ack's offset must be one the server returned, not " + quote(trim(a.Offset))
		}
		if id < l.Acked {
			return "the ack's offset is before the stream's acked offset: cursors never go back"
		}
		t, _, err := m.tail(ctx, p, id) // an offset past this node's view: read the stream on first
		if err != nil {
			return "the stream's tail could not be read"
		}
		if id > max(t, l.Acked) {
			return "the ack's offset is past the stream's tail"
		}
		moves = append(moves, move{l, id})
	}
	for _, mv := range moves {
		mv.l.Acked = max(mv.l.Acked, mv.id)
	}
	return ""
}
