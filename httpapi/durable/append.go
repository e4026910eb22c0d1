package durable

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/hub"
)

// maxSafeInt is 2^53-1, the largest producer epoch or sequence number
// (JavaScript's safe integers).
const maxSafeInt = 1<<53 - 1

// parseProducer reads the producer headers: all three or none.
func parseProducer(h http.Header) (*producerTuple, error) {
	id, idOK := h["Producer-Id"]
	ep, epOK := h["Producer-Epoch"]
	sq, sqOK := h["Producer-Seq"]
	if !idOK && !epOK && !sqOK {
		return nil, nil
	}
	if !idOK || !epOK || !sqOK {
		return nil, fmt.Errorf("Producer-Id, Producer-Epoch and Producer-Seq go together: send all three or none")
	}
	if id[0] == "" {
		return nil, fmt.Errorf("Producer-Id must not be empty")
	}
	if len(id[0]) > 1024 {
		return nil, fmt.Errorf("Producer-Id is longer than 1024 bytes")
	}
	p := &producerTuple{ID: id[0]}
	for _, x := range []struct {
		name string
		v    string
		dst  *int64
	}{{"Producer-Epoch", ep[0], &p.Epoch}, {"Producer-Seq", sq[0], &p.Seq}} {
		n, err := strconv.ParseInt(x.v, 10, 64)
		if !allDigits(x.v) || err != nil || n > maxSafeInt {
			return nil, fmt.Errorf("%s %q is not an integer from 0 to 2^53-1", x.name, trim(x.v))
		}
		*x.dst = n
	}
	return p, nil
}

// producerCheck is the outcome of validating a producer's request.
type producerCheck int

const (
	producerAccept producerCheck = iota
	producerDuplicate
	producerStale    // 403
	producerNewEpoch // 400: a new epoch must start at 0
	producerGap      // 409
)

// checkProducerState validates p against the producer's state cur (known
// false: a producer the stream has not seen), as protocol section 5.2.1
// says.
func checkProducerState(cur producerState, known bool, p *producerTuple) producerCheck {
	switch {
	case !known:
		if p.Seq != 0 {
			return producerGap
		}
		return producerAccept
	case p.Epoch < cur.Epoch:
		return producerStale
	case p.Epoch > cur.Epoch:
		if p.Seq != 0 {
			return producerNewEpoch
		}
		return producerAccept
	case p.Seq <= cur.Seq:
		return producerDuplicate
	case p.Seq == cur.Seq+1:
		return producerAccept
	}
	return producerGap
}

// result is the answer to one append: a status, headers and, for an
// error, its message.
type result struct {
	status int
	hdr    [][2]string
	msg    string
}

func (r *result) set(k, v string) { r.hdr = append(r.hdr, [2]string{k, v}) }

// write sends the result.
func (r *result) write(w http.ResponseWriter) {
	for _, kv := range r.hdr {
		w.Header().Set(kv[0], kv[1])
	}
	if r.msg != "" {
		fail(w, r.status, r.msg)
		return
	}
	w.WriteHeader(r.status)
}

// producerAnswer is the result of a producer request that is not
// accepted: ok is false for producerAccept.
func producerAnswer(p *producerTuple, c producerCheck, cur producerState, tail uint64, closed bool) (res result, ok bool) {
	switch c {
	case producerDuplicate:
		res = result{status: http.StatusNoContent}
		res.set("Producer-Epoch", strconv.FormatInt(p.Epoch, 10))
		res.set("Producer-Seq", strconv.FormatInt(cur.Seq, 10))
		res.set("Stream-Next-Offset", formatOffset(tail))
		if closed {
			res.set("Stream-Closed", "true")
		}
	case producerStale:
		res = result{status: http.StatusForbidden, msg: fmt.Sprintf("producer epoch %d is stale: the stream is at epoch %d", p.Epoch, cur.Epoch)}
		res.set("Producer-Epoch", strconv.FormatInt(cur.Epoch, 10))
	case producerNewEpoch:
		res = result{status: http.StatusBadRequest, msg: fmt.Sprintf("a new producer epoch (%d) must start at Producer-Seq 0, not %d", p.Epoch, p.Seq)}
	case producerGap:
		res = result{status: http.StatusConflict, msg: fmt.Sprintf("producer sequence gap: expected %d, received %d", cur.Seq+1, p.Seq)}
		res.set("Producer-Expected-Seq", strconv.FormatInt(cur.Seq+1, 10))
		res.set("Producer-Received-Seq", strconv.FormatInt(p.Seq, 10))
	default:
		return result{}, false
	}
	return res, true
}

// producerKey is the idempotency key of a producer's append: equal for a
// retry, so a store that sees it twice (two hub nodes racing) stores it
// once.
func producerKey(gen uint64, p *producerTuple, i int) string {
	s := sha256.Sum256([]byte(fmt.Sprintf("%d\x00%s\x00%d\x00%d", gen, p.ID, p.Epoch, p.Seq)))
	return "ds-" + hex.EncodeToString(s[:12]) + "-" + strconv.Itoa(i)
}

// appendReq is one POST waiting in its stream's queue.
type appendReq struct {
	closing bool
	p       *producerTuple
	seq     string
	seqSet  bool
	ct      string
	body    []byte
	res     result
	done    chan struct{}
}

// queue is the appends waiting for one stream; the first to arrive leads:
// it commits everything queued at that moment as one batch, and again
// until the queue is empty. So concurrent appends to one stream share a
// commit, as appends to different streams do in the store.
type queue struct {
	reqs    []*appendReq
	leading bool
}

// append serves POST: data, a close, or both.
func (f *Feature) append(w http.ResponseWriter, r *http.Request, name, topic string) {
	who, ok := f.authorize(w, r, true, topic)
	if !ok {
		return
	}
	req := &appendReq{closing: isTrue(r.Header.Get("Stream-Closed")), ct: r.Header.Get("Content-Type"), done: make(chan struct{})}
	var err error
	if req.p, err = parseProducer(r.Header); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if v, set := r.Header["Stream-Seq"]; set {
		req.seq, req.seqSet = v[0], true
	}
	if req.body, ok = f.s.ReadBody(w, r, f.opts.MaxBodyBytes); !ok {
		return
	}
	switch {
	case len(req.body) == 0 && !req.closing:
		fail(w, http.StatusBadRequest, "an append needs a body (only a close, Stream-Closed: true, may be empty)")
		return
	case len(req.body) > 0 && req.ct == "":
		fail(w, http.StatusBadRequest, "an append with a body needs a Content-Type, the stream's")
		return
	case req.seqSet && len(req.body) > 0 && (req.seq == "" || len(req.seq) > 256):
		fail(w, http.StatusBadRequest, "Stream-Seq must be 1 to 256 bytes")
		return
	}
	if who != nil && !f.s.Limiter().AllowPublish(w, who, 1) {
		return
	}
	f.enqueue(r.Context(), name, topic, req)
	select {
	case <-req.done:
		req.res.write(w)
	case <-r.Context().Done():
	}
}

// enqueue queues req on the stream's queue and, when no request leads
// it, starts one that does. The leader runs apart from the request, so
// its client gets its answer with its batch however long others keep the
// queue busy, and a client that goes away does not end the others' batch.
func (f *Feature) enqueue(ctx context.Context, name, topic string, req *appendReq) {
	f.reg.mu.Lock()
	q := f.reg.queues[name]
	if q == nil {
		q = &queue{}
		f.reg.queues[name] = q
	}
	q.reqs = append(q.reqs, req)
	lead := !q.leading
	q.leading = true
	f.reg.mu.Unlock()
	if lead {
		go f.lead(context.WithoutCancel(ctx), name, topic, q)
	}
}

// lead commits q's appends, batch after batch, until q is empty; each
// batch has a minute.
func (f *Feature) lead(ctx context.Context, name, topic string, q *queue) {
	for {
		f.reg.mu.Lock()
		batch := q.reqs
		q.reqs = nil
		if len(batch) == 0 {
			q.leading = false
			delete(f.reg.queues, name)
			f.reg.mu.Unlock()
			return
		}
		f.reg.mu.Unlock()
		bctx, cancel := context.WithTimeout(ctx, time.Minute)
		f.commitAppends(bctx, name, topic, batch)
		cancel()
		for _, req := range batch {
			close(req.done)
		}
	}
}

// overlay is a stream's writer state as a batch's accepted requests
// change it, before the commit.
type overlay struct {
	st        *state
	producers map[string]producerState
	closed    bool
	closedBy  *producerTuple
	streamSeq string
}

func (o *overlay) producer(id string) (producerState, bool) {
	if p, ok := o.producers[id]; ok {
		return p, true
	}
	p, ok := o.st.producers[id]
	return p, ok
}

// commitAppends validates batch in order against the stream's state as the
// requests before change it, commits the accepted ones as one append and
// sets every request's result. If the store refuses the batch, each
// accepted request is committed alone, so one request the store refuses
// (too large) fails alone.
func (f *Feature) commitAppends(ctx context.Context, name, topic string, batch []*appendReq) {
	e, err := f.reg.lock(ctx, name, topic)
	if err != nil {
		for _, req := range batch {
			req.res = f.storeResult(err)
		}
		return
	}
	defer f.reg.unlock(e)
	st := &e.st
	if !st.exists || st.softDeleted {
		for _, req := range batch {
			if st.exists {
				req.res = result{status: http.StatusGone, msg: "the stream was deleted"}
			} else {
				req.res = result{status: http.StatusNotFound, msg: "no stream " + quote(trim(name))}
			}
		}
		return
	}
	e.touch(f.reg.now())
	var (
		accepted []*appendReq
		events   []*ssehub.Event
		ends     []int // per accepted request: the end of its events in events
		dup      []bool
		before   uint64
	)
	last := e.expect()
	for attempt := 1; ; attempt++ {
		o := &overlay{st: st, producers: map[string]producerState{}, closed: st.closed, closedBy: st.closedBy, streamSeq: st.streamSeq}
		accepted, events, ends = accepted[:0], events[:0], ends[:0]
		for _, req := range batch {
			evs, ok := f.validate(o, topic, req)
			if !ok {
				continue
			}
			accepted = append(accepted, req)
			events = append(events, evs...)
			ends = append(ends, len(events))
		}
		if len(accepted) == 0 {
			return
		}
		before = st.tail
		dup, err = f.reg.commitIf(ctx, last, events, e)
		if errors.Is(err, ssehub.ErrConflict) && attempt < maxConflicts {
			// Another node appended to the stream since it was read:
			// read what it wrote and decide every request again (a
			// producer's number it took is now a duplicate or a gap).
			if last, err = f.reg.resync(ctx, e); err == nil {
				continue
			}
		}
		break
	}
	if err != nil {
		if len(accepted) > 1 && !errors.Is(err, ssehub.ErrConflict) {
			for _, req := range accepted {
				f.commitOne(ctx, e, topic, req)
			}
			return
		}
		for _, req := range accepted {
			req.res = f.storeResult(err)
		}
		return
	}
	// Each request's answer is the tail right after it in the batch.
	tail, start := before, 0
	for i, req := range accepted {
		allDup := true
		for j := start; j < ends[i]; j++ {
			if events[j].Type == "" {
				tail = events[j].ID
			}
			allDup = allDup && dup[j]
		}
		start = ends[i]
		f.answer(req, tail, allDup)
	}
}

// commitOne commits one request alone (e locked), after its batch failed.
func (f *Feature) commitOne(ctx context.Context, e *entry, topic string, req *appendReq) {
	st := &e.st
	o := &overlay{st: st, producers: map[string]producerState{}, closed: st.closed, closedBy: st.closedBy, streamSeq: st.streamSeq}
	events, ok := f.validate(o, topic, req)
	if !ok {
		return
	}
	dup, err := f.reg.commit(ctx, events, e)
	if err != nil {
		req.res = f.storeResult(err)
		return
	}
	allDup := len(dup) > 0
	for _, d := range dup {
		allDup = allDup && d
	}
	f.answer(req, st.tail, allDup)
}

// answer sets an accepted request's result once it is committed: tail is
// the stream's tail right after it.
func (f *Feature) answer(req *appendReq, tail uint64, dup bool) {
	if dup && req.p != nil {
		req.res, _ = producerAnswer(req.p, producerDuplicate, producerState{Epoch: req.p.Epoch, Seq: req.p.Seq}, tail, req.closing)
		return
	}
	res := result{status: http.StatusNoContent}
	res.set("Stream-Next-Offset", formatOffset(tail))
	if req.closing {
		res.set("Stream-Closed", "true")
	}
	if req.p != nil {
		res.set("Producer-Epoch", strconv.FormatInt(req.p.Epoch, 10))
		res.set("Producer-Seq", strconv.FormatInt(req.p.Seq, 10))
		if len(req.body) > 0 {
			res.status = http.StatusOK
		}
	}
	req.res = res
}

// validate checks req against o (the stream as the batch so far leaves
// it): it sets req.res and returns false when the request is refused or
// answered without a commit, else it returns the request's events and
// updates o as if they were committed.
func (f *Feature) validate(o *overlay, topic string, req *appendReq) ([]*ssehub.Event, bool) {
	st, p := o.st, req.p
	if o.closed {
		if p != nil && o.closedBy != nil && *o.closedBy == *p {
			req.res, _ = producerAnswer(p, producerDuplicate, producerState{Epoch: p.Epoch, Seq: p.Seq}, st.tail, true)
			return nil, false
		}
		res := result{status: http.StatusNoContent}
		res.set("Stream-Next-Offset", formatOffset(st.tail))
		res.set("Stream-Closed", "true")
		if len(req.body) > 0 || p != nil {
			res.status, res.msg = http.StatusConflict, "the stream is closed"
		}
		req.res = res // closing a closed stream: 204
		return nil, false
	}
	if len(req.body) > 0 && mediaType(req.ct) != mediaType(st.meta.ContentType) {
		req.res = result{status: http.StatusConflict, msg: fmt.Sprintf("Content-Type %q differs from the stream's %q", trim(req.ct), st.meta.ContentType)}
		return nil, false
	}
	if p != nil {
		cur, known := o.producer(p.ID)
		c := checkProducerState(cur, known, p)
		if !known {
			cur.Seq = -1 // a new producer is expected at 0
		}
		if res, done := producerAnswer(p, c, cur, st.tail, false); done {
			req.res = res
			return nil, false
		}
		if !known && len(st.producers)+len(o.producers) >= f.opts.MaxProducers {
			req.res = result{status: http.StatusTooManyRequests, msg: fmt.Sprintf("the stream already has %d producers, the limit (durable_streams.max_producers)", f.opts.MaxProducers)}
			return nil, false
		}
	}
	if req.seqSet && len(req.body) > 0 && o.streamSeq != "" && req.seq <= o.streamSeq {
		req.res = result{status: http.StatusConflict, msg: fmt.Sprintf("Stream-Seq %q is not greater than the last one, %q", trim(req.seq), trim(o.streamSeq))}
		return nil, false
	}
	var events []*ssehub.Event
	if len(req.body) > 0 {
		var err error
		events, err = dataEvents(topic, st.meta.ContentType, req.body, false)
		if err != nil {
			req.res = result{status: http.StatusBadRequest, msg: err.Error()}
			return nil, false
		}
		if max := f.s.Hub().Capabilities().MaxBatch; max > 0 && len(events) > max {
			req.res = result{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("an append of %d messages is more than the store commits at once (%d): split it", len(events), max)}
			return nil, false
		}
		m := dataMeta{Producer: p, Close: req.closing}
		if req.seqSet {
			m.StreamSeq = req.seq
		}
		if m != (dataMeta{}) {
			events[len(events)-1].Meta, _ = json.Marshal(m)
		}
		if p != nil {
			for i, ev := range events {
				ev.Key = producerKey(st.gen, p, i)
			}
		}
		if req.seqSet {
			o.streamSeq = req.seq
		}
	} else {
		cm, _ := json.Marshal(closeMeta{Producer: p})
		events = []*ssehub.Event{{Topic: topic, Type: typeClose, Data: cm}}
	}
	if p != nil {
		o.producers[p.ID] = producerState{Epoch: p.Epoch, Seq: p.Seq}
	}
	if req.closing {
		o.closed, o.closedBy = true, p
	}
	return events, true
}

// storeResult is the result of a failed store call.
func (f *Feature) storeResult(err error) result {
	switch {
	case errors.Is(err, ssehub.ErrUnavailable):
		res := result{status: http.StatusServiceUnavailable, msg: "the store is unavailable; retry later"}
		res.set("Retry-After", "1")
		return res
	case errors.Is(err, ssehub.ErrTooLarge):
		return result{status: http.StatusRequestEntityTooLarge, msg: "the append is larger than the store takes: " + err.Error()}
	case errors.Is(err, hub.ErrGone):
		return result{status: http.StatusGone, msg: "the topic of this stream has been deregistered"}
	case errors.Is(err, ssehub.ErrConflict):
		res := result{status: http.StatusServiceUnavailable, msg: "another hub node kept changing this stream meanwhile; retry"}
		res.set("Retry-After", "1")
		return res
	}
	f.s.Logger().Error("durable streams: store", "err", err)
	return result{status: http.StatusInternalServerError, msg: "the store failed"}
}
