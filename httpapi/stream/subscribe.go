package stream

import (
	"errors"
	"net/http"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/emitter"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// request is a checked subscribe request.
type request struct {
	endpoint *Endpoint
	who      *httpapi.Principal // nil on a public stream
	opts     hub.SubscribeOptions
	// init is set for an init: last stream; the subscription then starts at
	// an id known beforehand, so that the init events match it exactly.
	init bool
}

// handleEvents serves GET /events?topic=P&topic=P2.
func (f *Feature) handleEvents(w http.ResponseWriter, r *http.Request) {
	who, ok := f.s.Authenticate(w, r)
	if !ok {
		return
	}
	filter, n, err := f.s.ParseQueryFilter(r.URL.Query()["topic"])
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadPattern, err.Error())
		return
	}
	if n == 0 {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadPattern, "at least one ?topic= pattern is required (e.g. ?topic=orders.* or ?topic=*)")
		return
	}
	if !f.s.Permit(w, who, auth.PurposeStream, filter) {
		return
	}
	e := &f.opts.Events // shared; a copy only for another format, as the stream keeps it
	if v := r.URL.Query().Get("format"); v != "" {
		fm, err := format.Parse(v)
		if err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, err.Error())
			return
		}
		if fm != e.Format {
			c := *e
			c.Format = fm
			e = &c
		}
	}
	f.subscribe(w, r, &request{endpoint: e, who: who,
		opts: hub.SubscribeOptions{Filter: filter, Topics: filter.ExactTopics()}})
}

// handleStream serves a configured stream; ?event_type= narrows its match,
// never widens it.
func (f *Feature) handleStream(w http.ResponseWriter, r *http.Request, e *Endpoint) {
	if e.CORSOrigins != nil {
		emitter.CORS{Origins: e.CORSOrigins, Credentials: true}.Apply(w.Header(), r)
	}
	filter, topics := e.Match, e.Match.ExactTopics()
	narrow, n, err := f.s.ParseQueryFilter(r.URL.Query()["event_type"])
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadPattern, err.Error())
		return
	}
	if n > 0 {
		filter = filter.Intersect(narrow)
		topics = append(topics, narrow.ExactTopics()...)
	}
	var who *httpapi.Principal
	if !e.Public {
		var ok bool
		if who, ok = f.s.Authenticate(w, r); !ok || !f.s.Permit(w, who, auth.PurposeStream, filter) {
			return
		}
	}
	f.subscribe(w, r, &request{endpoint: e, who: who, opts: hub.SubscribeOptions{Filter: filter, Topics: topics}})
}

// handleTokenStream serves GET /stream/{token} (BoilStream style): the
// token in the path streams the topics of its own scope.
func (f *Feature) handleTokenStream(w http.ResponseWriter, r *http.Request) {
	who, ok := f.s.AuthenticateSecret(w, r, r.PathValue("token"))
	if !ok {
		return
	}
	filter := who.Scope()
	if !f.s.Permit(w, who, auth.PurposeStream, filter) {
		return
	}
	e := &f.opts.TokenStream // shared; a copy only for another format, as the stream keeps it
	if formatFor := f.opts.FormatFor; formatFor != nil && e.Format == format.Raw {
		if fm := formatFor(r.Context(), filter); fm != nil && fm != e.Format {
			c := *e
			c.Format = fm
			if hs, ok := fm.(interface{ HeartbeatStyle() string }); ok {
				c.HeartbeatStyle = hs.HeartbeatStyle()
				c.prepare()
			}
			e = &c
		}
	}
	f.subscribe(w, r, &request{endpoint: e, who: who, opts: hub.SubscribeOptions{Filter: filter, Topics: filter.ExactTopics()}})
}

// subscribe serves a checked request as SSE, or as a JSON page of history
// when the client prefers JSON.
func (f *Feature) subscribe(w http.ResponseWriter, r *http.Request, req *request) {
	e := req.endpoint
	req.opts.Format, req.opts.EpochIDs = e.Format, e.EpochIDs
	req.opts.Credential = req.who.Credential()
	for _, t := range req.opts.Topics {
		if f.s.Hub().Gone(t) {
			writeGone(w, t)
			return
		}
	}
	if emitter.WantsJSON(r) {
		f.servePage(w, r, req)
		return
	}
	if e.Replay {
		from, err := hub.ParseResume(emitter.LastEventID(r))
		if err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadID, "Last-Event-ID: "+err.Error())
			return
		}
		req.opts.From = from
	}
	if e.Init == "last" {
		req.init = true
		if !req.opts.From.Set {
			// Live only, from the log's head: what every publish
			// acknowledged before this request is in the init events, even
			// when the live feed has not dispatched it yet (the hub's Head
			// may lag the log's by a commit), and the stream continues
			// exactly after it.
			pos, err := f.s.Hub().Bounds(r.Context())
			if err != nil {
				f.s.Logger().Warn("init: the log's position", "err", err)
				httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "the log cannot report its position")
				return
			}
			req.opts.From = hub.Resume{Set: true, After: pos.Head}
		}
	}
	f.serveSSE(w, r, req)
}

func writeGone(w http.ResponseWriter, topic string) {
	httpapi.WriteError(w, http.StatusGone, httpapi.CodeGone, (&hub.GoneError{Topic: topic}).Error())
}

// writeSubscribeError answers a subscription the hub refused.
func (f *Feature) writeSubscribeError(w http.ResponseWriter, err error) {
	var gone *hub.GoneError
	switch {
	case errors.As(err, &gone):
		writeGone(w, gone.Topic)
	case errors.Is(err, hub.ErrRevoked), errors.Is(err, hub.ErrExpired):
		httpapi.WriteError(w, http.StatusUnauthorized, httpapi.CodeUnauthorized, err.Error())
	default:
		f.s.Logger().Error("subscribe", "err", err)
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "the store cannot serve this stream now")
	}
}

// endEvent is the last event of a stream the hub ended, or nil.
func endEvent(err error) []byte {
	var gone *hub.GoneError
	switch {
	case errors.As(err, &gone):
		return errorEvent(httpapi.CodeGone, gone.Error())
	case errors.Is(err, hub.ErrRevoked), errors.Is(err, hub.ErrExpired):
		return errorEvent(httpapi.CodeUnauthorized, err.Error())
	}
	return nil
}
