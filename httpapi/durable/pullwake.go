package durable

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/ssehub/ssehub/httpapi"
)

// wakeEvent is what a pull-wake subscription appends to its wake stream.
type wakeEvent struct {
	Type           string `json:"type"`
	SubscriptionID string `json:"subscription_id"`
	Stream         string `json:"stream"`
	Generation     uint64 `json:"generation"`
	TS             int64  `json:"ts"`
}

// writeWake appends rec's wake event to its wake stream (an ordinary
// stream the application created; none there: the wake waits for a
// claim). It goes through the streams' own append path, so it is
// validated and committed like any client's append.
func (m *subManager) writeWake(ctx context.Context, rec *subRecord, stream string) {
	name := rec.Config.WakeStream
	topic, err := TopicFor(name)
	if err != nil {
		return
	}
	sn, err := m.f.snap(ctx, name, topic, false)
	if err != nil || !sn.exists || sn.softDeleted || sn.closed {
		m.log.Warn("durable streams: the wake stream of a subscription is missing or closed; the wake waits for a claim",
			"subscription", rec.ID, "wake_stream", name, "err", err)
		return
	}
	body, _ := json.Marshal(wakeEvent{Type: "wake", SubscriptionID: rec.ID, Stream: stream, Generation: rec.Generation, TS: m.now().UnixMilli()})
	res := m.f.appendInternal(ctx, name, topic, sn.ct(), body)
	if res.status >= 300 {
		m.log.Warn("durable streams: writing a wake event failed", "subscription", rec.ID, "wake_stream", name, "status", res.status, "msg", res.msg)
	}
}

// appendInternal appends body to a stream through the same queue and
// validation as POST, and returns the result.
func (f *Feature) appendInternal(ctx context.Context, name, topic, ct string, body []byte) result {
	req := &appendReq{ct: ct, body: body, done: make(chan struct{})}
	f.enqueue(ctx, name, topic, req)
	select {
	case <-req.done:
		return req.res
	case <-ctx.Done():
		return result{status: http.StatusServiceUnavailable, msg: ctx.Err().Error()}
	}
}

// claim serves POST …/claim: a pull-wake worker takes the subscription's
// lease for the current wake (making one if work is pending and none is
// in flight) and gets the token its acks and release carry.
func (m *subManager) claim(w http.ResponseWriter, r *http.Request, id string) {
	var q struct {
		Worker string `json:"worker"`
	}
	if !m.readJSON(w, r, &q) {
		return
	}
	if q.Worker == "" || len(q.Worker) > maxWorkerName {
		fail(w, http.StatusBadRequest, "worker must name the worker, 1 to 256 bytes")
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
		if _, ok := m.f.authorize(w, r, false, TopicPrefix+".*"); ok {
			httpapi.WriteError(w, http.StatusNotFound, codeSubNotFound, "no subscription "+quote(id))
		}
		return
	}
	if !m.authorizeSub(w, r, false, &rec.Config, explicitLinks(rec)) {
		return
	}
	if rec.Config.Type != "pull-wake" {
		fail(w, http.StatusBadRequest, "claim is for pull-wake subscriptions")
		return
	}
	now := m.now()
	if rec.leaseOver(now) {
		m.expire(ctx, s) // the lease ran out before the watcher saw it
		if err := m.save(ctx, s); err != nil {
			m.failed(w, r, err)
			return
		}
	}
	if rec.Holder != "" {
		httpapi.WriteJSON(w, http.StatusConflict, map[string]any{"error": map[string]any{"code": codeAlreadyClaimed,
			"message": "another worker holds the lease", "current_holder": rec.Holder, "generation": rec.Generation}})
		return
	}
	infos, err := m.infos(ctx, rec, nil)
	if err != nil {
		m.failed(w, r, err)
		return
	}
	pending := false
	for _, in := range infos {
		pending = pending || in.HasPending
	}
	if !pending {
		httpapi.WriteError(w, http.StatusConflict, codeNoPending, "the subscription has no pending work")
		return
	}
	if rec.WakeID == "" {
		won, err := m.claimGeneration(ctx, rec)
		if err != nil {
			m.failed(w, r, err)
			return
		}
		if !won {
			// Another hub node is making this generation right now.
			w.Header().Set("Retry-After", "1")
			fail(w, http.StatusServiceUnavailable, "another hub node is waking this subscription; claim again")
			return
		}
		m.newWake(rec, infos) // the claimer is awake: no wake event needed
	}
	rec.Holder = q.Worker
	rec.LeaseUntil = now.Add(rec.Config.leaseTTL())
	if err := m.save(ctx, s); err != nil {
		m.failed(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"wake_id": rec.WakeID, "generation": rec.Generation,
		"token": m.keys.token(rec, now), "streams": infos, "lease_ttl_ms": rec.Config.LeaseTTLms})
}

// expire ends s's lease (s.mu held): the holder and its token go, and a
// new wake is made if work is pending. The caller saves.
func (m *subManager) expire(ctx context.Context, s *subState) {
	s.rec.clearWake()
	if _, err := m.wakeIfIdle(ctx, s); err != nil {
		m.log.Warn("durable streams: waking a subscription after its lease", "subscription", s.rec.ID, "err", err)
	}
}
