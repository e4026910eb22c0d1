package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/sse"
)

// envelope is one event in a POST /publish body.
type envelope struct {
	Topic  string         `json:"topic"`
	Type   string         `json:"type"`
	Data   jsontext.Value `json:"data"`
	Key    string         `json:"key"`
	Entity string         `json:"entity"`
	Source string         `json:"source"`
	Meta   jsontext.Value `json:"meta"`
}

// envelopeOptions decode an envelope as encoding/json did (names match
// case-insensitively, a repeated name keeps the last value, invalid UTF-8
// is kept as sent), except that unknown names are errors. json v2 decodes
// NDJSON batches about 3× faster than encoding/json's Decoder.
var envelopeOptions = jsonv2.JoinOptions(
	jsonv2.RejectUnknownMembers(true),
	jsonv2.MatchCaseInsensitiveNames(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// handlePublishTopic serves POST /publish/{topic}: the body is the data.
func (s *Server) handlePublishTopic(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	ev := &ssehub.Event{
		Topic:  r.PathValue("topic"),
		Type:   q.Get("type"),
		Key:    firstOf(q.Get("key"), r.Header.Get("Idempotency-Key")),
		Entity: q.Get("entity"),
		Source: q.Get("source"),
	}
	if !s.checkEvent(w, who, ev) {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if mediaType(r) == "application/json" && !json.Valid(body) {
		writeError(w, http.StatusBadRequest, codeBadJSON, "the body is declared application/json but is not valid JSON")
		return
	}
	ev.Data = body
	if !s.limits.allowPublish(w, who, 1) {
		return
	}
	res, ok := s.publish(w, r.Context(), []*ssehub.Event{ev})
	if !ok {
		return
	}
	writePublished(w, res[0])
}

// handlePublish serves POST /publish: one JSON envelope, or with
// Content-Type application/x-ndjson one envelope a line, all or nothing.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	mt := mediaType(r)
	if mt != "application/json" && mt != "application/x-ndjson" && mt != "" {
		writeError(w, http.StatusUnsupportedMediaType, codeMediaType, fmt.Sprintf("Content-Type %q is not supported: send application/json (one envelope) or application/x-ndjson (one envelope a line)", mt))
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if mt != "application/x-ndjson" {
		ev, err := parseEnvelope(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, codeBadJSON, err.Error())
			return
		}
		if !s.checkEvent(w, who, ev) || !s.limits.allowPublish(w, who, 1) {
			return
		}
		res, ok := s.publish(w, r.Context(), []*ssehub.Event{ev})
		if !ok {
			return
		}
		writePublished(w, res[0])
		return
	}

	var events []*ssehub.Event
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if len(events) == s.MaxBatchEvents {
			writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("a batch holds at most %d events", s.MaxBatchEvents))
			return
		}
		ev, err := parseEnvelope(b)
		if err != nil {
			writeError(w, http.StatusBadRequest, codeBadJSON, fmt.Sprintf("line %d: %v", line, err))
			return
		}
		if msg := s.validateEvent(ev); msg != "" {
			writeError(w, http.StatusBadRequest, codeBadTopic, fmt.Sprintf("line %d: %s", line, msg))
			return
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		writeError(w, http.StatusBadRequest, codeBadJSON, "the batch holds no events")
		return
	}
	checked := "" // a batch usually holds one topic: check each once
	for _, ev := range events {
		if ev.Topic == checked {
			continue
		}
		checked = ev.Topic
		if !s.permit(w, who, auth.PurposePublish, ssehub.Patterns{ssehub.MustPattern(ev.Topic)}) || !s.checkGone(w, ev.Topic) {
			return
		}
	}
	if !s.limits.allowPublish(w, who, len(events)) {
		return
	}
	res, ok := s.publish(w, r.Context(), events)
	if !ok {
		return
	}
	writeBatchPublished(w, res)
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
		b = append(b, '"')
		b = strconv.AppendUint(b, r.ID, 10)
		b = append(b, '"')
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
				b = append(b, '"')
				b = strconv.AppendUint(b, r.ID, 10)
				b = append(b, '"')
				n++
			}
		}
		b = append(b, ']')
	}
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// writePublished answers one publish: {"id":"42"} or
// {"id":"42","duplicate":true}, built without reflection since every
// publish ends here.
func writePublished(w http.ResponseWriter, r ssehub.AppendResult) {
	b := make([]byte, 0, 48)
	b = append(b, `{"id":"`...)
	b = strconv.AppendUint(b, r.ID, 10)
	if r.Duplicate {
		b = append(b, `","duplicate":true}`...)
	} else {
		b = append(b, `"}`...)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// parseEnvelope decodes one envelope. A JSON string as data is stored as
// its text; any other JSON value as its JSON text.
func parseEnvelope(b []byte) (*ssehub.Event, error) {
	var env envelope
	if err := jsonv2.Unmarshal(b, &env, envelopeOptions); err != nil {
		return nil, fmt.Errorf("invalid envelope: %w", err)
	}
	ev := &ssehub.Event{Topic: env.Topic, Type: env.Type, Key: env.Key, Entity: env.Entity, Source: env.Source}
	if len(env.Data) > 0 && env.Data[0] == '"' {
		var str string
		if err := jsonv2.Unmarshal(env.Data, &str, envelopeOptions); err != nil {
			return nil, fmt.Errorf("invalid envelope data: %w", err)
		}
		ev.Data = []byte(str)
	} else if len(env.Data) > 0 && string(env.Data) != "null" {
		ev.Data = env.Data
	}
	if len(env.Meta) > 0 && string(env.Meta) != "null" {
		if env.Meta[0] != '{' {
			return nil, errors.New("invalid envelope: meta must be a JSON object")
		}
		ev.Meta = json.RawMessage(env.Meta)
	}
	return ev, nil
}

// validateEvent returns what is wrong with ev's fields, or "".
func (s *Server) validateEvent(ev *ssehub.Event) string {
	if err := ssehub.ValidateTopic(ev.Topic); err != nil {
		return err.Error()
	}
	if s.Limits.MaxTopicLen > 0 && len(ev.Topic) > s.Limits.MaxTopicLen {
		return fmt.Sprintf("topic is longer than the limit of %d bytes", s.Limits.MaxTopicLen)
	}
	if ev.Type != "" {
		if err := sse.ValidateType(ev.Type); err != nil {
			return fmt.Sprintf("type %q: must not contain CR or LF", ev.Type)
		}
	}
	return ""
}

// checkEvent validates ev, that who may publish to its topic, and that the
// topic is not deregistered.
func (s *Server) checkEvent(w http.ResponseWriter, who *principal, ev *ssehub.Event) bool {
	if msg := s.validateEvent(ev); msg != "" {
		writeError(w, http.StatusBadRequest, codeBadTopic, msg)
		return false
	}
	return s.permit(w, who, auth.PurposePublish, ssehub.Patterns{ssehub.MustPattern(ev.Topic)}) && s.checkGone(w, ev.Topic)
}

func (s *Server) checkGone(w http.ResponseWriter, topic string) bool {
	if s.hub.Gone(topic) {
		writeError(w, http.StatusGone, codeGone, fmt.Sprintf("topic %q has been deregistered", topic))
		return false
	}
	return true
}

// readBody reads the request body within MaxBodyBytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > s.MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", s.MaxBodyBytes))
		return nil, false
	}
	var body []byte
	var err error
	if r.ContentLength >= 0 {
		// The length is known and within the limit: one allocation, where
		// io.ReadAll would grow a buffer through a dozen copies.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", s.MaxBodyBytes))
		} else {
			writeError(w, http.StatusBadRequest, codeBadRequest, "reading the body failed")
		}
		return nil, false
	}
	return body, true
}

// publish appends events and answers 503 when the log cannot take them.
func (s *Server) publish(w http.ResponseWriter, ctx context.Context, events []*ssehub.Event) ([]ssehub.AppendResult, bool) {
	res, err := s.hub.Publish(ctx, events)
	switch {
	case err == nil:
		return res, true
	case errors.Is(err, ssehub.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, err.Error())
	case errors.Is(err, ssehub.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "the hub is shutting down")
	case ctx.Err() != nil:
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "the request was canceled before the events were stored")
	default:
		s.Logger.Error("append failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "storing the events failed")
	}
	return nil, false
}

func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(ct)
	}
	return mt
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
