package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/envelope"
	"github.com/ssehub/ssehub/httpapi"
)

type topicJSON struct {
	Topic        string          `json:"topic"`
	Events       int64           `json:"events"`
	LastID       string          `json:"last_id"`
	Deregistered bool            `json:"deregistered,omitempty"`
}

// handleTopics serves GET /api/topics?after=NAME&limit=N: a page of topics
// in name order, {"topics":[…],"next":"NAME"}; next is absent on the last
// page. A scoped admin token sees the topics of its scope only: its pages
// skip the others, so one may hold fewer than limit topics, or none, and
// still have a next (a request reads at most maxScan topics).
func (f *Feature) handleTopics(w http.ResponseWriter, r *http.Request) {
	p, ok := f.admin(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := min(100, f.opts.MaxTopicsPage)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > f.opts.MaxTopicsPage {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", f.opts.MaxTopicsPage))
			return
		}
		limit = n
	}
	after := q.Get("after")
	if len(after) > ssehub.MaxTopicLen {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadTopic, "after is longer than a topic can be")
		return
	}
	h := f.s.Hub()
	scope := p.Scope()
	out := struct {
		Topics []topicJSON `json:"topics"`
		Next   string      `json:"next,omitempty"`
	}{Topics: []topicJSON{}}
	maxScan := max(10*limit, 1000)
	for scanned := 0; ; {
		infos, err := h.Topics(r.Context(), after, limit)
		if err != nil {
			f.s.Logger().Error("topics", "err", err)
			httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "listing topics failed")
			return
		}
		last := len(infos) < limit // the topics end with this read
		for i, t := range infos {
			after = t.Topic
			scanned++
			if !scope.Match(t.Topic) {
				continue
			}
			out.Topics = append(out.Topics, topicJSON{Topic: t.Topic, Events: t.Events,
				LastID: strconv.FormatUint(t.LastID, 10), Deregistered: h.Gone(t.Topic)})
			if len(out.Topics) == limit {
				if !last || i < len(infos)-1 {
					out.Next = after // the topics after it are for the next page
				}
				httpapi.WriteJSON(w, http.StatusOK, out)
				return
			}
		}
		if last {
			break
		}
		if scanned >= maxScan {
			out.Next = after
			break
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// handleTopic serves GET /api/topics/{topic}: the topic's info and its
// newest retained event (its current state), as an envelope.
func (f *Feature) handleTopic(w http.ResponseWriter, r *http.Request) {
	_, topic, ok := f.topicRequest(w, r)
	if !ok {
		return
	}
	h := f.s.Hub()
	info, err := h.Topic(r.Context(), topic)
	gone := h.Gone(topic)
	switch {
	case errors.Is(err, ssehub.ErrNotFound) && !gone:
		httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, fmt.Sprintf("topic %q has no retained events", topic))
		return
	case err != nil && !errors.Is(err, ssehub.ErrNotFound):
		f.s.Logger().Error("topic", "err", err)
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "reading the topic failed")
		return
	}
	out := topicJSON{Topic: topic, Events: info.Events, LastID: strconv.FormatUint(info.LastID, 10), Deregistered: gone}
	var body any = out
	if f.opts.TopicDetails != nil {
		extra, err := f.opts.TopicDetails(r.Context(), topic)
		if err != nil {
			f.s.Logger().Error("topic details", "topic", topic, "err", err)
		}
		if len(extra) > 0 {
			var own map[string]json.RawMessage
			b, _ := json.Marshal(out)
			_ = json.Unmarshal(b, &own)
			for k, v := range own {
				extra[k] = v // the built-in keys win
			}
			delete(extra, "last_event")
			body = extra
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		f.s.Logger().Error("topic", "err", err)
		httpapi.WriteError(w, http.StatusInternalServerError, httpapi.CodeInternal, "encoding the topic failed")
		return
	}
	// The last event goes in as its envelope's own bytes: encoding/json
	// would re-encode (compact) a raw message, which alters the payload.
	if last, err := h.Last(r.Context(), topic); err == nil {
		b = append(b[:len(b)-1], `,"last_event":`...)
		b = append(envelope.Append(b, last), '}')
	} else if !errors.Is(err, ssehub.ErrNotFound) {
		f.s.Logger().Error("topic last event", "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// handleDeleteTopic serves DELETE /api/topics/{topic}: on every node, new
// subscribers that name the topic get 410, live ones an error event with
// code GONE, and publishes to it 410.
func (f *Feature) handleDeleteTopic(w http.ResponseWriter, r *http.Request) {
	_, topic, ok := f.topicRequest(w, r)
	if !ok {
		return
	}
	if err := f.s.Hub().DeregisterTopic(r.Context(), topic); err != nil {
		f.s.Logger().Error("deregister", "topic", topic, "err", err)
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "recording the deregistration failed; retry")
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"topic": topic, "deregistered": true})
}

// topicRequest checks an admin request about one topic within its scope.
func (f *Feature) topicRequest(w http.ResponseWriter, r *http.Request) (*httpapi.Principal, string, bool) {
	p, ok := f.admin(w, r)
	if !ok {
		return nil, "", false
	}
	topic := r.PathValue("topic")
	if err := ssehub.ValidateTopic(topic); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadTopic, err.Error())
		return nil, "", false
	}
	if !f.s.Permit(w, p, auth.PurposeAdmin, ssehub.MustFilter(topic)) {
		return nil, "", false
	}
	return p, topic, true
}
