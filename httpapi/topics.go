package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
)

// DeregisteredBucket is the KV bucket that records deregistered topics.
const DeregisteredBucket = "deregistered_topics"

type topicJSON struct {
	Topic        string `json:"topic"`
	Events       int64  `json:"events"`
	LastID       string `json:"last_id"`
	Deregistered bool   `json:"deregistered,omitempty"`
}

// handleTopics serves GET /api/topics.
func (s *Server) handleTopics(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.authenticate(w, r); !ok || !s.permit(w, p, auth.PurposeAdmin, nil) {
		return
	}
	out := struct {
		Topics []topicJSON `json:"topics"`
	}{Topics: []topicJSON{}}
	if tl, ok := s.hub.Log().(ssehub.Topics); ok {
		infos, err := tl.Topics(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, codeInternal, "listing topics failed")
			s.Logger.Error("topics", "err", err)
			return
		}
		for _, t := range infos {
			out.Topics = append(out.Topics, topicJSON{Topic: t.Topic, Events: t.Events,
				LastID: strconv.FormatUint(t.LastID, 10), Deregistered: s.hub.Gone(t.Topic)})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleDeleteTopic serves DELETE /api/topics/{topic}: new subscribers to
// the topic get 410, live ones an error event with code GONE.
func (s *Server) handleDeleteTopic(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.authenticate(w, r); !ok || !s.permit(w, p, auth.PurposeAdmin, nil) {
		return
	}
	topic := r.PathValue("topic")
	if err := ssehub.ValidateTopic(topic); err != nil {
		writeError(w, http.StatusBadRequest, codeBadTopic, err.Error())
		return
	}
	if s.KV != nil {
		if err := s.KV.Put(r.Context(), DeregisteredBucket, topic, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
			writeError(w, http.StatusInternalServerError, codeInternal, "recording the deregistration failed")
			s.Logger.Error("deregister", "topic", topic, "err", err)
			return
		}
	}
	s.hub.DeregisterTopic(topic)
	writeJSON(w, http.StatusOK, map[string]any{"topic": topic, "deregistered": true})
}
