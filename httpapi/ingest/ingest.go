// Package ingest serves Arrow ingest, BoilStream style: POST
// /ingest/{token} (and POST /ingest with the token in Authorization) takes
// an Arrow IPC stream (or file), or JSON rows converted to Arrow with the topic's
// schema, and stores each record batch as one event once it is durable.
// The feature also provides the hooks that make the rest of the hub Arrow
// aware: FormatFor (GET /stream/{token} of Arrow topics streams in the
// arrow format) and TopicDetails (GET /api/topics/{topic} shows the schema).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/arrow"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/envelope"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// Options configure the ingest feature. Zero values take the defaults.
type Options struct {
	// MaxBodyBytes bounds a request body, of any content type (413 past
	// it): limits.max_ingest_bytes, default 128 KiB as in BoilStream.
	MaxBodyBytes int64
	// MaxDecodedBytes bounds the memory reading one IPC body may take
	// (a compressed body states its own decoded size); default
	// arrow.DefaultMaxDecoded.
	MaxDecodedBytes int64
	// MaxKeyLen bounds the idempotency key (?key= or Idempotency-Key);
	// default 256.
	MaxKeyLen int
}

// DefaultMaxBodyBytes is the default of Options.MaxBodyBytes.
const DefaultMaxBodyBytes = 128 << 10

// Feature serves the ingest endpoints; create it with New.
type Feature struct {
	opts   Options
	s      *httpapi.Server
	reg    *arrow.Registry
	detach func()
}

// New returns the ingest feature for opts.
func New(opts Options) *Feature {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxDecodedBytes <= 0 {
		opts.MaxDecodedBytes = arrow.DefaultMaxDecoded
	}
	if opts.MaxKeyLen <= 0 {
		opts.MaxKeyLen = 256
	}
	return &Feature{opts: opts}
}

// Register implements httpapi.Feature: the routes, and the schema registry
// over the hub's store, attached to the arrow format until shutdown.
func (f *Feature) Register(s *httpapi.Server) error {
	f.s = s
	f.reg = arrow.NewRegistry(s.Hub().Store(), s.Logger())
	f.detach = arrow.Attach(f.reg)
	// The arrow format sends an event with a batch's type and meta as a
	// batch: only ingest, which validated it, may write one.
	s.ReserveEvents("Arrow ingest (POST /ingest)", func(ev *ssehub.Event) bool {
		_, ok := arrow.FingerprintOf(ev)
		return ok
	})
	s.OnShutdown(f.detach)
	s.Route("/ingest/{token}", httpapi.Methods{"POST": f.handlePath})
	s.Route("/ingest", httpapi.Methods{"POST": f.handleHeader})
	return nil
}

// Registry returns the schema registry (nil before Register).
func (f *Feature) Registry() *arrow.Registry { return f.reg }

// handlePath serves POST /ingest/{token}.
func (f *Feature) handlePath(w http.ResponseWriter, r *http.Request) {
	who, ok := f.s.AuthenticateSecret(w, r, r.PathValue("token"))
	if ok {
		f.ingest(w, r, who)
	}
}

// handleHeader serves POST /ingest?topic=T with the token in
// Authorization (or ?token=, or the cookie with its CSRF header).
func (f *Feature) handleHeader(w http.ResponseWriter, r *http.Request) {
	who, ok := f.s.Authenticate(w, r)
	if ok {
		f.ingest(w, r, who)
	}
}

func (f *Feature) ingest(w http.ResponseWriter, r *http.Request, who *httpapi.Principal) {
	topic, ok := f.topic(w, r, who)
	if !ok {
		return
	}
	if !f.s.Permit(w, who, auth.PurposePublish, ssehub.MustFilter(topic)) {
		return
	}
	h := f.s.Hub()
	if h.Gone(topic) {
		httpapi.WriteError(w, http.StatusGone, httpapi.CodeGone, (&hub.GoneError{Topic: topic}).Error())
		return
	}
	key, hk := r.URL.Query().Get("key"), r.Header.Get("Idempotency-Key")
	switch {
	case key == "":
		key = hk
	case hk != "" && hk != key:
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadField, "?key= and the Idempotency-Key header differ")
		return
	}
	if len(key) > f.opts.MaxKeyLen {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadField, fmt.Sprintf("key is %d bytes, over the limit of %d (limits.max_key_len)", len(key), f.opts.MaxKeyLen))
		return
	}
	if strings.ContainsFunc(key, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		// As on /publish: the separators of scoped and part keys are
		// control characters, which no client may forge.
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadField, "key must not contain control characters")
		return
	}
	mt := httpapi.MediaType(r)
	if mt != arrow.MediaType && mt != arrow.FileMediaType && mt != "application/json" && mt != "application/x-ndjson" {
		httpapi.WriteError(w, http.StatusUnsupportedMediaType, httpapi.CodeMediaType,
			fmt.Sprintf("Content-Type %.60q is not supported: send %s (an Arrow IPC stream), %s (an Arrow IPC file), application/json (an array of row objects) or application/x-ndjson (a row object a line)", mt, arrow.MediaType, arrow.FileMediaType))
		return
	}
	body, ok := f.s.ReadBody(w, r, f.opts.MaxBodyBytes) // within server.read_body_timeout
	if !ok {
		return
	}
	var p *arrow.Payload
	var err error
	switch mt {
	case arrow.MediaType:
		p, err = arrow.ReadIPC(body, f.opts.MaxDecodedBytes)
	case arrow.FileMediaType:
		p, err = arrow.ReadIPCFile(body, f.opts.MaxDecodedBytes)
	default:
		var cur *arrow.Schema
		if cur, err = f.reg.Topic(r.Context(), topic); err == nil {
			p, err = arrow.FromJSON(body, mt == "application/x-ndjson", cur)
		}
	}
	if err != nil {
		if errors.Is(err, arrow.ErrInvalid) {
			httpapi.WriteError(w, http.StatusBadRequest, CodeBadArrow, err.Error())
			return
		}
		f.s.Logger().Error("ingest: reading the topic's schema", "topic", topic, "err", err)
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "reading the topic's schema failed; retry")
		return
	}
	events := make([]*ssehub.Event, len(p.Batches))
	for i, b := range p.Batches {
		events[i] = arrow.NewEvent(topic, p.Schema, b)
		if key != "" {
			events[i].Key = key
			if len(p.Batches) > 1 {
				events[i].Key = envelope.PartKey(key, i)
			}
		}
	}
	if !f.s.Limiter().AllowPublish(w, who, len(events)) {
		return
	}
	var res []ssehub.AppendResult
	_, err = f.reg.Publish(r.Context(), topic, p.Schema, func(ctx context.Context) (ssehub.AppendResult, error) {
		var err error
		if res, err = h.Publish(ctx, events); err != nil {
			return ssehub.AppendResult{}, err
		}
		return res[0], nil
	})
	if err != nil {
		f.writePublishError(w, r, err)
		return
	}
	writeIngested(w, res, p.Rows())
}

// CodeBadArrow is the error code of a body that is not valid Arrow, or JSON
// rows that do not fit the topic's schema.
const CodeBadArrow = "BAD_ARROW"

// topic returns the topic of an ingest: ?topic=, or the token's only
// topic when its scope is one exact topic.
func (f *Feature) topic(w http.ResponseWriter, r *http.Request, who *httpapi.Principal) (string, bool) {
	topic := r.URL.Query().Get("topic")
	if topic == "" {
		scope := who.Scope()
		exact := scope.ExactTopics()
		if scope.IsAll() || len(exact) != 1 || scope.Len() != 1 {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadTopic,
				fmt.Sprintf("name the topic with ?topic=: this token's scope (%s) is not one exact topic", scope.String()))
			return "", false
		}
		topic = exact[0]
	}
	if err := ssehub.ValidateTopic(topic); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadTopic, err.Error())
		return "", false
	}
	if err := f.s.CheckTopicLen(topic); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadTopic, "topic "+err.Error())
		return "", false
	}
	return topic, true
}

// writePublishError answers a failed append: 410 for a deregistered topic,
// 413 for what the store finds too large, 503 otherwise.
func (f *Feature) writePublishError(w http.ResponseWriter, r *http.Request, err error) {
	var gone *hub.GoneError
	switch {
	case errors.As(err, &gone):
		httpapi.WriteError(w, http.StatusGone, httpapi.CodeGone, gone.Error())
	case errors.Is(err, ssehub.ErrTooLarge):
		httpapi.WriteError(w, http.StatusRequestEntityTooLarge, httpapi.CodeTooLarge, err.Error())
	case errors.Is(err, ssehub.ErrClosed):
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "the hub is shutting down")
	case r.Context().Err() != nil:
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "the request was canceled before the batch was stored")
	default:
		f.s.Logger().Error("ingest: append failed", "err", err)
		w.Header().Set("Retry-After", "1")
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "storing the batch failed; nothing was stored, retry")
	}
}

// writeIngested answers {"id":"42","rows":N}: id is the (last) event's id;
// a stream of several batches also lists "ids"; a duplicate (same key
// inside the dedupe window) says "duplicate":true.
func writeIngested(w http.ResponseWriter, res []ssehub.AppendResult, rows int64) {
	b := make([]byte, 0, 64)
	b = append(b, `{"id":"`...)
	b = strconv.AppendUint(b, res[len(res)-1].ID, 10)
	b = append(b, `","rows":`...)
	b = strconv.AppendInt(b, rows, 10)
	if len(res) > 1 {
		b = append(b, `,"ids":[`...)
		for i, r := range res {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = strconv.AppendUint(b, r.ID, 10)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	if res[0].Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// FormatFor is the stream feature's hook for GET /stream/{token}: the arrow
// format when the token's topics are Arrow topics — f matches a topic with
// a schema, or names an exact topic with no event yet (whose first ingest
// is still to come) — and nil (the endpoint's own format) otherwise. The
// arrow format sends an event that is not an Arrow batch as raw does, so a
// token whose topics turn out not to be Arrow loses nothing.
func (f *Feature) FormatFor(ctx context.Context, filter ssehub.Filter) format.Format {
	if f.reg == nil || filter.IsEmpty() {
		return nil
	}
	cs, err := f.reg.Matching(ctx, filter)
	if err != nil {
		f.s.Logger().Error("ingest: schemas of a stream's topics", "err", err)
		return nil
	}
	if len(cs) > 0 {
		return arrow.Format
	}
	for _, t := range filter.ExactTopics() {
		if _, err := f.s.Hub().Topic(ctx, t); errors.Is(err, ssehub.ErrNotFound) {
			return arrow.Format
		}
	}
	return nil
}

// TopicDetails is the admin feature's hook for GET /api/topics/{topic}: an
// Arrow topic gets "schema" (its current schema as JSON fields, with
// "since", the id its latest run starts at) and "schema_changes" (every
// recorded change, oldest first, with the id it starts at).
func (f *Feature) TopicDetails(ctx context.Context, topic string) (map[string]any, error) {
	if f.reg == nil {
		return nil, nil
	}
	c, ok, err := f.reg.Current(ctx, topic)
	if err != nil || !ok {
		return nil, err
	}
	changes, err := f.reg.Changes(ctx, topic)
	if err != nil {
		return nil, err
	}
	type changeJSON struct {
		ID          string `json:"id"`
		Fingerprint string `json:"fingerprint"`
	}
	list := make([]changeJSON, len(changes))
	for i, ch := range changes {
		list[i] = changeJSON{ID: strconv.FormatUint(ch.ID, 10), Fingerprint: ch.Fingerprint}
	}
	schema := struct {
		arrow.SchemaJSON
		Since string `json:"since"`
	}{c.Schema.JSON(), strconv.FormatUint(c.Since, 10)}
	return map[string]any{"schema": schema, "schema_changes": list}, nil
}
