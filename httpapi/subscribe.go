package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/emitter"
	"github.com/ssehub/ssehub/hub"
)

// subscription is a parsed subscribe request.
type subscription struct {
	stream *Stream
	match  ssehub.Matcher
	topics []string // exact topics asked for, for 410 Gone
	who    *principal
	opts   hub.SubscribeOptions
}

// handleEvents serves GET /events?topic=P&topic=P2.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var raw []string
	for _, v := range r.URL.Query()["topic"] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				raw = append(raw, p)
			}
		}
	}
	if len(raw) == 0 {
		writeError(w, http.StatusBadRequest, codeBadPattern, "at least one ?topic= pattern is required (e.g. ?topic=orders.* or ?topic=*)")
		return
	}
	if s.Limits.MaxTopics > 0 && len(raw) > s.Limits.MaxTopics {
		writeError(w, http.StatusBadRequest, codeBadPattern, fmt.Sprintf("at most %d topic patterns per subscription", s.Limits.MaxTopics))
		return
	}
	ps, err := s.parsePatterns(raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadPattern, err.Error())
		return
	}
	if !s.permit(w, who, auth.PurposeStream, ps) {
		return
	}
	st := s.Events
	if f := r.URL.Query().Get("format"); f != "" {
		if st.Format, err = hub.ParseFormat(f); err != nil {
			writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
			return
		}
	}
	s.subscribe(w, r, who, &st, ps, exactTopics(ps))
}

// handleStream serves a configured stream; ?event_type= narrows its match.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request, st *Stream) {
	if st.CORSOrigins != nil {
		setCORS(w, r, st.CORSOrigins)
	}
	var m ssehub.Matcher = st.Match
	topics := exactTopics(st.Match)
	asked := st.Match
	if et := r.URL.Query()["event_type"]; len(et) > 0 {
		narrow, err := s.parsePatterns(et)
		if err != nil {
			writeError(w, http.StatusBadRequest, codeBadPattern, err.Error())
			return
		}
		m = both{st.Match, narrow}
		topics = append(topics, exactTopics(narrow)...)
		asked = narrow
	}
	var who *principal
	if !st.Public {
		var ok bool
		if who, ok = s.authenticate(w, r); !ok || !s.permit(w, who, auth.PurposeStream, asked) {
			return
		}
	}
	s.subscribe(w, r, who, st, m, topics)
}

// subscribe serves a checked subscribe request as SSE, or as a JSON page
// of history when the client prefers JSON. who is nil on a public stream.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, who *principal, st *Stream, m ssehub.Matcher, topics []string) {
	for _, t := range topics {
		if s.hub.Gone(t) {
			writeError(w, http.StatusGone, codeGone, fmt.Sprintf("topic %q has been deregistered", t))
			return
		}
	}
	sub := subscription{stream: st, match: m, topics: topics, who: who}
	sub.opts = hub.SubscribeOptions{Match: m, Topics: topics, Format: st.Format}
	if emitter.WantsJSON(r) {
		s.servePage(w, r, &sub)
		return
	}
	if st.Replay {
		id := strings.TrimSpace(emitter.LastEventID(r))
		switch {
		case id == "":
		case id == "earliest":
			sub.opts.Earliest = true
		default:
			n, err := strconv.ParseUint(id, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, codeBadID, fmt.Sprintf("Last-Event-ID %q is not an event id (a decimal number, or \"earliest\")", id))
				return
			}
			sub.opts.Resume, sub.opts.After = true, n
		}
	}
	s.serveSSE(w, r, &sub)
}

func exactTopics(ps ssehub.Patterns) []string {
	var out []string
	for _, p := range ps {
		if p.Exact() {
			out = append(out, p.String())
		}
	}
	return out
}

// both matches topics that both matchers match: a client's ?event_type=
// can only narrow a stream's match, never widen it.
type both [2]ssehub.Matcher

func (b both) Match(topic string) bool { return b[0].Match(topic) && b[1].Match(topic) }

// handleTokenStream serves GET /stream/{token} (BoilStream style): the
// token in the path streams the topics of its own scope.
func (s *Server) handleTokenStream(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticateSecret(w, r, r.PathValue("token"))
	if !ok {
		return
	}
	ps := ssehub.Patterns{ssehub.MustPattern("*")}
	if !who.admin {
		ps = who.token.Patterns()
	}
	if !s.permit(w, who, auth.PurposeStream, ps) {
		return
	}
	st := s.TokenStream
	s.subscribe(w, r, who, &st, ps, exactTopics(ps))
}

// parsePatterns parses patterns within the configured length limit.
func (s *Server) parsePatterns(raw []string) (ssehub.Patterns, error) {
	for _, p := range raw {
		if s.Limits.MaxTopicLen > 0 && len(p) > s.Limits.MaxTopicLen {
			return nil, fmt.Errorf("pattern is longer than the limit of %d bytes", s.Limits.MaxTopicLen)
		}
	}
	return ssehub.ParsePatterns(raw...)
}
