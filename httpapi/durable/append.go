package durable

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ssehub/ssehub"
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

// checkProducer validates p against the stream's state (protocol 5.2.1).
func checkProducer(st *state, p *producerTuple) (producerCheck, producerState) {
	cur, ok := st.producers[p.ID]
	switch {
	case !ok:
		if p.Seq != 0 {
			return producerGap, producerState{Epoch: p.Epoch, Seq: -1}
		}
		return producerAccept, cur
	case p.Epoch < cur.Epoch:
		return producerStale, cur
	case p.Epoch > cur.Epoch:
		if p.Seq != 0 {
			return producerNewEpoch, cur
		}
		return producerAccept, cur
	case p.Seq <= cur.Seq:
		return producerDuplicate, cur
	case p.Seq == cur.Seq+1:
		return producerAccept, cur
	}
	return producerGap, cur
}

// answerProducer writes the response of a producer request that is not
// accepted; it reports false for producerAccept.
func answerProducer(w http.ResponseWriter, st *state, p *producerTuple, c producerCheck, cur producerState) bool {
	h := w.Header()
	switch c {
	case producerDuplicate:
		h.Set("Producer-Epoch", strconv.FormatInt(p.Epoch, 10))
		h.Set("Producer-Seq", strconv.FormatInt(cur.Seq, 10))
		h.Set("Stream-Next-Offset", formatOffset(st.tail))
		if st.closed {
			h.Set("Stream-Closed", "true")
		}
		w.WriteHeader(http.StatusNoContent)
	case producerStale:
		h.Set("Producer-Epoch", strconv.FormatInt(cur.Epoch, 10))
		fail(w, http.StatusForbidden, fmt.Sprintf("producer epoch %d is stale: the stream is at epoch %d", p.Epoch, cur.Epoch))
	case producerNewEpoch:
		fail(w, http.StatusBadRequest, fmt.Sprintf("a new producer epoch (%d) must start at Producer-Seq 0, not %d", p.Epoch, p.Seq))
	case producerGap:
		h.Set("Producer-Expected-Seq", strconv.FormatInt(cur.Seq+1, 10))
		h.Set("Producer-Received-Seq", strconv.FormatInt(p.Seq, 10))
		fail(w, http.StatusConflict, fmt.Sprintf("producer sequence gap: expected %d, received %d", cur.Seq+1, p.Seq))
	default:
		return false
	}
	return true
}

// producerKey is the idempotency key of a producer's append: equal for a
// retry, so a store that sees it twice (two hub nodes racing) stores it
// once.
func producerKey(gen uint64, p *producerTuple, i int) string {
	s := sha256.Sum256([]byte(fmt.Sprintf("%d\x00%s\x00%d\x00%d", gen, p.ID, p.Epoch, p.Seq)))
	return "ds-" + hex.EncodeToString(s[:12]) + "-" + strconv.Itoa(i)
}

// append serves POST: data, a close, or both.
func (f *Feature) append(w http.ResponseWriter, r *http.Request, name, topic string) {
	who, ok := f.authorize(w, r, true, topic)
	if !ok {
		return
	}
	closing := isTrue(r.Header.Get("Stream-Closed"))
	p, err := parseProducer(r.Header)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	seq, seqSet := r.Header["Stream-Seq"]
	body, ok := f.s.ReadBody(w, r, f.opts.MaxBodyBytes)
	if !ok {
		return
	}
	ct := r.Header.Get("Content-Type")
	if len(body) == 0 && !closing {
		fail(w, http.StatusBadRequest, "an append needs a body (only a close, Stream-Closed: true, may be empty)")
		return
	}
	if len(body) > 0 && ct == "" {
		fail(w, http.StatusBadRequest, "an append with a body needs a Content-Type, the stream's")
		return
	}
	if who != nil && !f.s.Limiter().AllowPublish(w, who, 1) {
		return
	}

	e, err := f.reg.lock(r.Context(), name, topic)
	if err != nil {
		f.storeFailed(w, r, err)
		return
	}
	defer f.reg.unlock(e)
	st := &e.st
	switch {
	case !st.exists:
		fail(w, http.StatusNotFound, "no stream "+quote(trim(name)))
		return
	case st.softDeleted:
		fail(w, http.StatusGone, "the stream was deleted")
		return
	}
	st.lastAccess = f.reg.now()
	h := w.Header()
	if st.closed {
		if p != nil && st.closedBy != nil && *st.closedBy == *p {
			answerProducer(w, st, p, producerDuplicate, producerState{Epoch: p.Epoch, Seq: p.Seq})
			return
		}
		h.Set("Stream-Next-Offset", formatOffset(st.tail))
		h.Set("Stream-Closed", "true")
		if len(body) == 0 && p == nil {
			w.WriteHeader(http.StatusNoContent) // closing a closed stream
			return
		}
		fail(w, http.StatusConflict, "the stream is closed")
		return
	}
	if len(body) > 0 && mediaType(ct) != mediaType(st.meta.ContentType) {
		fail(w, http.StatusConflict, fmt.Sprintf("Content-Type %q differs from the stream's %q", trim(ct), st.meta.ContentType))
		return
	}
	if p != nil {
		c, cur := checkProducer(st, p)
		if answerProducer(w, st, p, c, cur) {
			return
		}
		if _, known := st.producers[p.ID]; !known && len(st.producers) >= f.opts.MaxProducers {
			fail(w, http.StatusTooManyRequests, fmt.Sprintf("the stream already has %d producers, the limit (durable_streams.max_producers)", f.opts.MaxProducers))
			return
		}
	}
	if seqSet && len(body) > 0 {
		if seq[0] == "" || len(seq[0]) > 256 {
			fail(w, http.StatusBadRequest, "Stream-Seq must be 1 to 256 bytes")
			return
		}
		if st.streamSeq != "" && seq[0] <= st.streamSeq {
			fail(w, http.StatusConflict, fmt.Sprintf("Stream-Seq %q is not greater than the last one, %q", trim(seq[0]), trim(st.streamSeq)))
			return
		}
	}
	var events []*ssehub.Event
	if len(body) > 0 {
		events, err = dataEvents(topic, st.meta.ContentType, body, false)
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		if max := f.s.Hub().Capabilities().MaxBatch; max > 0 && len(events) > max {
			fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("an append of %d messages is more than the store commits at once (%d): split it", len(events), max))
			return
		}
		m := dataMeta{Producer: p, Close: closing}
		if seqSet {
			m.StreamSeq = seq[0]
		}
		if m != (dataMeta{}) {
			last := events[len(events)-1]
			if len(events) == 1 && len(last.Meta) > 0 {
				// cannot happen: a single message has no batch meta
				last.Meta = nil
			}
			last.Meta, _ = json.Marshal(m)
		}
		if p != nil {
			for i, ev := range events {
				ev.Key = producerKey(st.gen, p, i)
			}
		}
	} else {
		cm, _ := json.Marshal(closeMeta{Producer: p})
		events = []*ssehub.Event{{Topic: topic, Type: typeClose, Data: cm}}
	}
	dup, err := f.reg.commit(r.Context(), events, e)
	if err != nil {
		f.storeFailed(w, r, err)
		return
	}
	if dup && p != nil {
		answerProducer(w, st, p, producerDuplicate, producerState{Epoch: p.Epoch, Seq: p.Seq})
		return
	}
	h.Set("Stream-Next-Offset", formatOffset(st.tail))
	if st.closed {
		h.Set("Stream-Closed", "true")
	}
	status := http.StatusNoContent
	if p != nil {
		h.Set("Producer-Epoch", strconv.FormatInt(p.Epoch, 10))
		h.Set("Producer-Seq", strconv.FormatInt(p.Seq, 10))
		if len(body) > 0 {
			status = http.StatusOK
		}
	}
	w.WriteHeader(status)
}
