// Package publish serves the publish endpoints: POST /publish/{topic} (the
// body is the data) and POST /publish (one JSON envelope, or NDJSON: one
// envelope a line, all or nothing). Every field is checked against its
// limit before anything is stored, and a publish is answered only once its
// events are durable.
package publish

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/envelope"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// Options configure the publish feature. Zero values take the defaults.
type Options struct {
	// MaxBodyBytes bounds a request body (413 past it). Default 1 MiB.
	MaxBodyBytes int64
	// MaxBatchEvents bounds the events of one NDJSON batch (413 past it).
	// Default, and at most, the store's largest all-or-nothing batch.
	MaxBatchEvents int
	// Limits bound the event's fields.
	Limits FieldLimits
	// SourceScoped selects the topics whose events are deduplicated on
	// (source, key) instead of key alone, as Inboxclaw deduplicates on
	// (source, event_id): the topics an Inboxclaw sink covers. The store
	// still deduplicates per topic; the key it gets carries the source
	// (envelope.ScopedKey) and the envelope's event_id stays the
	// publisher's key.
	SourceScoped ssehub.Filter
}

// FieldLimits bound an event's fields, in bytes (400 past them).
type FieldLimits struct {
	// MaxKeyLen bounds the idempotency key. Default 256.
	MaxKeyLen int
	// MaxFieldLen bounds type, entity and source. Default 1024.
	MaxFieldLen int
	// MaxMetaBytes bounds meta. Default 16 KiB.
	MaxMetaBytes int
}

// Feature serves the publish endpoints; create it with New.
type Feature struct {
	opts Options
	s    *httpapi.Server
}

// New returns the publish feature for opts.
func New(opts Options) *Feature {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	l := &opts.Limits
	if l.MaxKeyLen <= 0 {
		l.MaxKeyLen = 256
	}
	if l.MaxFieldLen <= 0 {
		l.MaxFieldLen = 1024
	}
	if l.MaxMetaBytes <= 0 {
		l.MaxMetaBytes = 16 << 10
	}
	return &Feature{opts: opts}
}

// Register implements httpapi.Feature.
func (f *Feature) Register(s *httpapi.Server) error {
	f.s = s
	if max := s.Hub().Capabilities().MaxBatch; max > 0 && (f.opts.MaxBatchEvents <= 0 || f.opts.MaxBatchEvents > max) {
		f.opts.MaxBatchEvents = max
	}
	if f.opts.MaxBatchEvents <= 0 {
		f.opts.MaxBatchEvents = 10000
	}
	s.Route("/publish/{topic}", httpapi.Methods{"POST": f.handleTopic})
	s.Route("/publish", httpapi.Methods{"POST": f.handleEnvelope})
	return nil
}

// handleTopic serves POST /publish/{topic}: the body is the data.
func (f *Feature) handleTopic(w http.ResponseWriter, r *http.Request) {
	who, ok := f.s.Authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if k, hk := q.Get("key"), r.Header.Get("Idempotency-Key"); k != "" && hk != "" && k != hk {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadField, "?key= and the Idempotency-Key header differ")
		return
	}
	ev := &ssehub.Event{
		Topic:  r.PathValue("topic"),
		Type:   q.Get("type"),
		Key:    firstOf(q.Get("key"), r.Header.Get("Idempotency-Key")),
		Entity: q.Get("entity"),
	}
	var err error
	if ev.Source, err = envelope.CheckSourceText(q.Get("source")); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadField, err.Error())
		return
	}
	if code, msg := f.Validate(ev); msg != "" {
		httpapi.WriteError(w, http.StatusBadRequest, code, msg)
		return
	}
	if !f.s.Permit(w, who, auth.PurposePublish, ssehub.MustFilter(ev.Topic)) {
		return
	}
	body, ok := f.s.ReadBody(w, r, f.opts.MaxBodyBytes)
	if !ok {
		return
	}
	if httpapi.MediaType(r) == "application/json" && !json.Valid(body) {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadJSON, "the body is declared application/json but is not valid JSON")
		return
	}
	ev.Data = body
	if !f.s.Limiter().AllowPublish(w, who, 1) {
		return
	}
	if res, ok := f.Publish(w, r.Context(), []*ssehub.Event{ev}); ok {
		writePublished(w, res[0])
	}
}

// handleEnvelope serves POST /publish: one JSON envelope, or with
// Content-Type application/x-ndjson one envelope a line, all or nothing.
func (f *Feature) handleEnvelope(w http.ResponseWriter, r *http.Request) {
	who, ok := f.s.Authenticate(w, r)
	if !ok {
		return
	}
	mt := httpapi.MediaType(r)
	if mt != "application/json" && mt != "application/x-ndjson" && mt != "" {
		httpapi.WriteError(w, http.StatusUnsupportedMediaType, httpapi.CodeMediaType, fmt.Sprintf("Content-Type %.60q is not supported: send application/json (one envelope) or application/x-ndjson (one envelope a line)", mt))
		return
	}
	body, ok := f.s.ReadBody(w, r, f.opts.MaxBodyBytes)
	if !ok {
		return
	}
	// An Idempotency-Key header keys what has no key of its own, as on
	// /publish/{topic}: a retry of the request stores nothing twice.
	hk := r.Header.Get("Idempotency-Key")
	if hk != "" {
		if code, msg := f.Validate(&ssehub.Event{Topic: "k", Key: hk}); msg != "" {
			httpapi.WriteError(w, http.StatusBadRequest, code, "Idempotency-Key: "+msg)
			return
		}
	}
	if mt != "application/x-ndjson" {
		ev, err := envelope.Parse(body)
		if err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadJSON, err.Error())
			return
		}
		switch {
		case hk == "":
		case ev.Key == "":
			ev.Key = hk
		case ev.Key != hk:
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadField, "the Idempotency-Key header and the envelope's key differ")
			return
		}
		if code, msg := f.Validate(ev); msg != "" {
			httpapi.WriteError(w, http.StatusBadRequest, code, msg)
			return
		}
		if !f.s.Permit(w, who, auth.PurposePublish, ssehub.MustFilter(ev.Topic)) || !f.s.Limiter().AllowPublish(w, who, 1) {
			return
		}
		if res, ok := f.Publish(w, r.Context(), []*ssehub.Event{ev}); ok {
			writePublished(w, res[0])
		}
		return
	}

	// The events are allocated slabChunk at a time, as lines arrive, not
	// one by one (and not ahead of the lines, which blank lines would
	// make cheap to ask for).
	var events []*ssehub.Event
	var slab []ssehub.Event
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if len(events) == f.opts.MaxBatchEvents {
			httpapi.WriteError(w, http.StatusRequestEntityTooLarge, httpapi.CodeTooLarge, fmt.Sprintf("a batch holds at most %d events", f.opts.MaxBatchEvents))
			return
		}
		if len(slab) == 0 {
			slab = make([]ssehub.Event, slabChunk)
		}
		ev := &slab[0]
		slab = slab[1:]
		if err := envelope.ParseInto(ev, b); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadJSON, fmt.Sprintf("line %d: %v", line, err))
			return
		}
		if code, msg := f.Validate(ev); msg != "" {
			httpapi.WriteError(w, http.StatusBadRequest, code, fmt.Sprintf("line %d: %s", line, msg))
			return
		}
		if ev.Key == "" && hk != "" {
			ev.Key = envelope.PartKey(hk, len(events)) // the header's key and the event's position
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadJSON, "the batch holds no events")
		return
	}
	checked := "" // a batch usually holds one topic: check each once
	for _, ev := range events {
		if ev.Topic == checked {
			continue
		}
		checked = ev.Topic
		if !f.s.Permit(w, who, auth.PurposePublish, ssehub.MustFilter(ev.Topic)) {
			return
		}
	}
	if !f.s.Limiter().AllowPublish(w, who, len(events)) {
		return
	}
	if res, ok := f.Publish(w, r.Context(), events); ok {
		writeBatchPublished(w, res)
	}
}

// slabChunk is how many events of an NDJSON batch are allocated together.
const slabChunk = 64

// Validate returns the error code and message for what is wrong with ev's
// fields, or "" when nothing is: the topic, the type (no CR or LF), and
// every field within its limit, so that no store ever refuses an event
// that the hub accepted.
func (f *Feature) Validate(ev *ssehub.Event) (code, msg string) {
	if err := ssehub.ValidateTopic(ev.Topic); err != nil {
		return httpapi.CodeBadTopic, err.Error()
	}
	if err := f.s.CheckTopicLen(ev.Topic); err != nil {
		return httpapi.CodeBadTopic, "topic " + err.Error()
	}
	l := f.opts.Limits
	for _, fl := range []struct {
		name, value, key string
		max              int
	}{
		{"key", ev.Key, "limits.max_key_len", l.MaxKeyLen},
		{"type", ev.Type, "limits.max_field_len", l.MaxFieldLen},
		{"entity", ev.Entity, "limits.max_field_len", l.MaxFieldLen},
		{"source", ev.Source, "limits.max_field_len", l.MaxFieldLen},
	} {
		if len(fl.value) > fl.max {
			return httpapi.CodeBadField, fmt.Sprintf("%s is %d bytes, over the limit of %d (%s)", fl.name, len(fl.value), fl.max, fl.key)
		}
	}
	if len(ev.Meta) > l.MaxMetaBytes {
		return httpapi.CodeBadField, fmt.Sprintf("meta is %d bytes, over the limit of %d (limits.max_meta_bytes)", len(ev.Meta), l.MaxMetaBytes)
	}
	if ev.Type != "" && sse.ValidateType(ev.Type) != nil {
		return httpapi.CodeBadField, "type must not contain CR or LF"
	}
	if owner, ok := f.s.ReservedEvent(ev); ok {
		return httpapi.CodeBadField, fmt.Sprintf("an event of type %.60q is reserved here: %s writes such events (use that protocol's endpoint, or another type)", ev.Type, owner)
	}
	for _, c := range ev.Key {
		if c < 0x20 || c == 0x7f {
			return httpapi.CodeBadField, "key must not contain control characters"
		}
	}
	return "", ""
}

// scope gives the events of source-scoped topics their (source, key)
// dedupe key; called once the events are valid.
func (f *Feature) scope(events []*ssehub.Event) {
	if f.opts.SourceScoped.IsEmpty() {
		return
	}
	for _, ev := range events {
		if ev.Key != "" && f.opts.SourceScoped.Match(ev.Topic) {
			ev.Key = envelope.ScopedKey(ev.Source, ev.Key)
		}
	}
}

// Publish appends events and answers the errors: 410 for a deregistered
// topic, 413 for what the store finds too large, 503 when the store cannot
// take them.
func (f *Feature) Publish(w http.ResponseWriter, ctx context.Context, events []*ssehub.Event) ([]ssehub.AppendResult, bool) {
	f.scope(events)
	res, err := f.s.Hub().Publish(ctx, events)
	var gone *hub.GoneError
	switch {
	case err == nil:
		return res, true
	case errors.As(err, &gone):
		httpapi.WriteError(w, http.StatusGone, httpapi.CodeGone, gone.Error())
	case errors.Is(err, ssehub.ErrTooLarge):
		httpapi.WriteError(w, http.StatusRequestEntityTooLarge, httpapi.CodeTooLarge, err.Error())
	case errors.Is(err, ssehub.ErrClosed):
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "the hub is shutting down")
	case ctx.Err() != nil:
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "the request was canceled before the events were stored")
	case errors.Is(err, ssehub.ErrUnavailable):
		// A networked store may have stored the events without confirming
		// it (a timeout during a leader election): say so, and how a retry
		// stays exact.
		f.s.Logger().Warn("append unconfirmed", "err", err)
		w.Header().Set("Retry-After", "1")
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable,
			"the store could not confirm the events (they may or may not be stored); retry with the same idempotency key so a retry cannot store them twice")
	default:
		f.s.Logger().Error("append failed", "err", err)
		w.Header().Set("Retry-After", "1")
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "storing the events failed; nothing was stored, retry")
	}
	return nil, false
}

// writeBatchPublished answers a batch: {"ids":["41","42"]}, with
// "duplicates":[…] listing the ids that were duplicates, if any.
func writeBatchPublished(w http.ResponseWriter, res []ssehub.AppendResult) {
	b := make([]byte, 0, 16+len(res)*12)
	b = append(b, `{"ids":[`...)
	dups := 0
	for i, r := range res {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuotedID(b, r.ID)
		if r.Duplicate {
			dups++
		}
	}
	b = append(b, ']')
	if dups > 0 {
		b = append(b, `,"duplicates":[`...)
		n := 0
		for _, r := range res {
			if r.Duplicate {
				if n > 0 {
					b = append(b, ',')
				}
				b = appendQuotedID(b, r.ID)
				n++
			}
		}
		b = append(b, ']')
	}
	writeBody(w, append(b, "}\n"...))
}

// writePublished answers one publish: {"id":"42"} or
// {"id":"42","duplicate":true}, built without reflection since every
// publish ends here.
func writePublished(w http.ResponseWriter, r ssehub.AppendResult) {
	b := make([]byte, 0, 48)
	b = append(b, `{"id":`...)
	b = appendQuotedID(b, r.ID)
	if r.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	writeBody(w, append(b, "}\n"...))
}

func appendQuotedID(b []byte, id uint64) []byte {
	b = append(b, '"')
	b = strconv.AppendUint(b, id, 10)
	return append(b, '"')
}

func writeBody(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
